-- Nexmark q19: the ten highest bids of every auction, a Top-N. Flink's
-- text orders by price DESC only; the other ORDER BY keys make the choice
-- between bids of equal price deterministic, as the hand-written query
-- does.
CREATE TABLE nexmark_q19 (
  auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR, dateTime TIMESTAMP(3), extra VARCHAR,
  rank_number BIGINT
) WITH ('connector' = 'nexmark');

INSERT INTO nexmark_q19
SELECT * FROM (
  SELECT *, ROW_NUMBER() OVER (
    PARTITION BY auction
    ORDER BY price DESC, dateTime DESC, bidder DESC, channel DESC, url DESC, extra DESC) AS rank_number
  FROM bid)
WHERE rank_number <= 10;
