"""Trigger: SQS batches of EventBridge S3 "Object Created" events -> one Step Functions run per dataset."""
