-- Nexmark q17: auction statistics per day, a non-window GROUP BY (on
-- unbounded input it emits the updated row of every changed group). As
-- Flink's text, but the sink's columns put day last, the order the
-- hand-written query hashes its fields in.
CREATE TABLE nexmark_q17 (
  auction BIGINT, total_bids BIGINT, rank1_bids BIGINT, rank2_bids BIGINT, rank3_bids BIGINT,
  min_price BIGINT, max_price BIGINT, avg_price BIGINT, sum_price BIGINT, `day` VARCHAR
) WITH ('connector' = 'nexmark');

INSERT INTO nexmark_q17
SELECT
  auction,
  count(*) AS total_bids,
  count(*) FILTER (WHERE price < 10000) AS rank1_bids,
  count(*) FILTER (WHERE price >= 10000 AND price < 1000000) AS rank2_bids,
  count(*) FILTER (WHERE price >= 1000000) AS rank3_bids,
  min(price) AS min_price,
  max(price) AS max_price,
  avg(price) AS avg_price,
  sum(price) AS sum_price,
  DATE_FORMAT(dateTime, 'yyyy-MM-dd') AS `day`
FROM bid
GROUP BY auction, DATE_FORMAT(dateTime, 'yyyy-MM-dd');
