-- Nexmark q12: bids per bidder per 10-second processing-time window, in
-- the window-TVF syntax over a view adding PROCTIME() (Flink's text uses
-- the legacy GROUP BY TUMBLE(p_time, …) syntax over the same subquery).
-- Its output depends on how fast the job runs: no checksum to compare.
CREATE TABLE nexmark_q12 (
  bidder BIGINT, bid_count BIGINT, starttime TIMESTAMP(3), endtime TIMESTAMP(3)
) WITH ('connector' = 'nexmark');

CREATE VIEW bid_proctime AS SELECT *, PROCTIME() AS p_time FROM bid;

INSERT INTO nexmark_q12
SELECT bidder, count(*) AS bid_count, window_start AS starttime, window_end AS endtime
FROM TABLE(TUMBLE(TABLE bid_proctime, DESCRIPTOR(p_time), INTERVAL '10' SECOND))
GROUP BY bidder, window_start, window_end;
