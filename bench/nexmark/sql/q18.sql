-- Nexmark q18: the last bid of every bidder on every auction, a
-- deduplication (ROW_NUMBER() ... = 1 after the latest dateTime). Flink's
-- text orders by dateTime DESC only; the other ORDER BY keys make the
-- choice between bids of equal time deterministic, as the hand-written
-- query does.
CREATE TABLE nexmark_q18 (
  auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR, dateTime TIMESTAMP(3), extra VARCHAR
) WITH ('connector' = 'nexmark');

INSERT INTO nexmark_q18
SELECT auction, bidder, price, channel, url, dateTime, extra
FROM (
  SELECT *, ROW_NUMBER() OVER (
    PARTITION BY bidder, auction
    ORDER BY dateTime DESC, price DESC, channel DESC, url DESC, extra DESC) AS rank_number
  FROM bid)
WHERE rank_number <= 1;
