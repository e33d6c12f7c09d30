-- Nexmark q4: average winning price per category, as in Flink's text: a
-- regular join of auctions and bids, a GROUP BY per auction (MAX) and a
-- GROUP BY per category (AVG) over its updating result. The hand-written
-- query decides a winner when its auction expires; the two agree on
-- bounded input, where every aggregate emits its final row only.
CREATE TABLE nexmark_q4 (id BIGINT, final BIGINT) WITH ('connector' = 'nexmark');

INSERT INTO nexmark_q4
SELECT Q.category, AVG(Q.final)
FROM (
  SELECT MAX(B.price) AS final, A.category
  FROM auction A, bid B
  WHERE A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires
  GROUP BY A.id, A.category
) Q
GROUP BY Q.category;
