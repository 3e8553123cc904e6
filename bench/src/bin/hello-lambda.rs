//! The smallest lambda_http function: the cold-start baseline the bench compares each casebridge
//! function with (same profile, same run).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::run(lambda_http::service_fn(
        |_req: lambda_http::Request| async {
            Ok::<_, lambda_http::Error>(lambda_http::Response::new(lambda_http::Body::from(
                "hello",
            )))
        },
    ))
    .await
}
