"""Event delivery in the local stack: S3 events to EventBridge rules and their targets, SQS event source
mappings to Lambda, and schedules (rate, at, cron) fired by time or on demand."""
