"""Public on-demand prices (USD, us-east-1) and the assumptions the cost figures rest on.

Each price names its source. Change them here; nothing else in the benchmarks holds one.
"""

from __future__ import annotations

# AWS Lambda pricing, us-east-1, arm64 (https://aws.amazon.com/lambda/pricing/)
LAMBDA_ARM64_USD_PER_GB_S = 0.0000133334
LAMBDA_USD_PER_REQUEST = 0.20 / 1_000_000

# Amazon DynamoDB pricing, on-demand capacity, us-east-1, Standard table class
# (https://aws.amazon.com/dynamodb/pricing/on-demand/). AWS halved on-demand throughput
# prices on 1 Nov 2024; these are the published prices since then.
DYNAMODB_USD_PER_WRU = 0.625 / 1_000_000
DYNAMODB_USD_PER_RRU = 0.125 / 1_000_000
# The prices before that cut ($1.25 / $0.25 per million), which many cost write-ups still
# quote: reported alongside, so the figure can be compared with older estimates.
DYNAMODB_USD_PER_WRU_BEFORE_NOV_2024 = 1.25 / 1_000_000
DYNAMODB_USD_PER_RRU_BEFORE_NOV_2024 = 0.25 / 1_000_000

# Amazon EventBridge pricing, custom events put on an event bus, per 64 KB chunk
# (https://aws.amazon.com/eventbridge/pricing/)
EVENTBRIDGE_USD_PER_EVENT = 1.00 / 1_000_000

# Amazon API Gateway pricing, REST APIs, first 333 million requests a month
# (https://aws.amazon.com/api-gateway/pricing/)
API_GATEWAY_REST_USD_PER_REQUEST = 3.50 / 1_000_000

# Amazon CloudWatch pricing, Logs, data ingested (standard), us-east-1
# (https://aws.amazon.com/cloudwatch/pricing/). Not part of the headline figure.
CLOUDWATCH_LOGS_USD_PER_GB = 0.50
# What Lambda itself writes per invocation (START, END and REPORT lines), about.
LAMBDA_PLATFORM_LOG_BYTES_PER_INVOCATION = 300

# Assumptions.
# Billed duration per invocation for the headline cost. In-process handler times on moto
# are not what Lambda bills: DynamoDB round trips take milliseconds there, a 512 MB
# function has a fraction of a vCPU. 100 ms per invocation is a deliberately round,
# pessimistic figure; the measured in-process times are reported next to it.
ASSUMED_BILLED_MS_PER_INVOCATION = 100
# Stream event source mappings deliver up to batch_size records per invocation; the
# headline counts the worst case, one record per invocation (each line alone).
ASSUMED_STREAM_RECORDS_PER_INVOCATION = 1

SOURCES = {
    "lambda_arm64_usd_per_gb_s": (LAMBDA_ARM64_USD_PER_GB_S, "AWS Lambda pricing, us-east-1, arm64"),
    "lambda_usd_per_million_requests": (LAMBDA_USD_PER_REQUEST * 1e6, "AWS Lambda pricing, us-east-1, arm64"),
    "dynamodb_usd_per_million_wru": (DYNAMODB_USD_PER_WRU * 1e6, "Amazon DynamoDB pricing, on-demand, us-east-1 (since Nov 2024)"),
    "dynamodb_usd_per_million_rru": (DYNAMODB_USD_PER_RRU * 1e6, "Amazon DynamoDB pricing, on-demand, us-east-1 (since Nov 2024)"),
    "eventbridge_usd_per_million_events": (EVENTBRIDGE_USD_PER_EVENT * 1e6, "Amazon EventBridge pricing, custom events"),
    "api_gateway_rest_usd_per_million_requests": (API_GATEWAY_REST_USD_PER_REQUEST * 1e6, "Amazon API Gateway pricing, REST, first 333M/month"),
    "cloudwatch_logs_usd_per_gb_ingested": (CLOUDWATCH_LOGS_USD_PER_GB, "Amazon CloudWatch pricing, Logs ingestion (not in the headline)"),
}
