//! The DynamoDB request counter: an SDK interceptor installed on a test's (or the bench's) client,
//! so that a test can say what one operation costs. It lives here, not in the shared crate,
//! because no function installs it.

/// Counts DynamoDB requests by operation (`TransactWriteItems`, `Query`, …) as they are sent, read
/// from the `X-Amz-Target` header. The cost tests and the bench use it to state what one inbound
/// message costs; production clients do not install it.
#[derive(Debug, Clone, Default)]
pub struct RequestCounter(
    std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<String, usize>>>,
);

impl RequestCounter {
    /// `client` with this counter installed.
    pub fn install(&self, client: &aws_sdk_dynamodb::Client) -> aws_sdk_dynamodb::Client {
        let conf = client
            .config()
            .to_builder()
            .interceptor(self.clone())
            .build();
        aws_sdk_dynamodb::Client::from_conf(conf)
    }

    pub fn take(&self) -> std::collections::BTreeMap<String, usize> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl aws_sdk_dynamodb::config::Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    fn read_before_transmit(
        &self,
        context: &aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _: &aws_sdk_dynamodb::config::RuntimeComponents,
        _: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let op = context
            .request()
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.rsplit('.').next())
            .unwrap_or("unknown")
            .to_owned();
        // Items per transaction and keys per batch read, for unit estimates (each item ≤ 1 KB
        // written in a transaction costs 2 WRU; each key read strongly under 4 KB, 1 RRU).
        let body = || {
            context
                .request()
                .body()
                .bytes()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
        };
        let items = match op.as_str() {
            "TransactWriteItems" => {
                body().and_then(|v| v["TransactItems"].as_array().map(Vec::len))
            }
            "BatchGetItem" => body().and_then(|v| {
                v["RequestItems"].as_object().map(|tables| {
                    tables
                        .values()
                        .filter_map(|t| t["Keys"].as_array().map(Vec::len))
                        .sum()
                })
            }),
            _ => None,
        };
        let mut counts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = items {
            *counts.entry(format!("{op} items")).or_default() += n;
        }
        *counts.entry(op).or_default() += 1;
        Ok(())
    }

    /// What a `Query` returned: `Query items` and `Query bytes` (the answer's size, an
    /// upper bound of the items' size, from which read units are estimated: 1 RRU per 4 KB read
    /// strongly consistent).
    fn read_before_deserialization(
        &self,
        context: &aws_sdk_dynamodb::config::interceptors::BeforeDeserializationInterceptorContextRef<'_>,
        _: &aws_sdk_dynamodb::config::RuntimeComponents,
        _: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let Some(bytes) = context.response().body().bytes() else {
            return Ok(());
        };
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(bytes) else {
            return Ok(());
        };
        // Only a Query or a Scan answers with a ScannedCount.
        if let (Some(n), Some(_)) = (v["Count"].as_u64(), v.get("ScannedCount")) {
            let mut counts = self.0.lock().unwrap_or_else(|e| e.into_inner());
            *counts.entry("Query items".to_owned()).or_default() += n as usize;
            *counts.entry("Query bytes".to_owned()).or_default() += bytes.len();
        }
        Ok(())
    }
}
