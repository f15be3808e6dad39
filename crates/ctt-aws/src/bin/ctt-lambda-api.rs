//! `ctt-lambda-api`: the API Lambda function (`provided.al2023`) behind API
//! Gateway: the REST API, OpenAPI document and portal of `ctt serve`, over the
//! DynamoDB table `CTT_TABLE`, with roles from a JWT authorizer's claims or from
//! bearer JWTs the function verifies itself. See `ctt_aws::lambda::api`.

use std::sync::Arc;

use ctt_aws::AwsOptions;
use ctt_aws::lambda::LambdaSettings;
use ctt_aws::lambda::api::{self, ApiHandler};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    ctt_aws::lambda::init_logging();
    let settings = LambdaSettings::from_env()?;
    let (auth, config) = api::settings_from_lookup(|name| std::env::var(name).ok())?;
    let sdk = ctt_aws::config::load(&AwsOptions::default()).await;
    let store = settings.open_store(&sdk).await?;
    let handler = ApiHandler::new(Arc::new(store), auth, config)?;
    lambda_http::run(handler.service()).await
}
