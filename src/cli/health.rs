//! `spaces-archive health`: asks a running `run` for its `/healthz` (for a container
//! health check, where no HTTP client is installed). Exit 0 when healthy, 1 otherwise.

use std::time::Duration;

use clap::Args;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::Outcome;

/// Arguments of `health`.
#[derive(Debug, Args)]
pub struct HealthArgs {
    /// Where `run --metrics-addr` listens.
    #[arg(
        long,
        env = "SPACES_ARCHIVE_HEALTH_ADDR",
        default_value = "127.0.0.1:9464",
        value_name = "HOST:PORT"
    )]
    pub addr: String,
}

/// Runs `health`.
pub async fn run(args: HealthArgs) -> anyhow::Result<Outcome> {
    let ask = async {
        let mut socket = tokio::net::TcpStream::connect(&args.addr).await?;
        socket
            .write_all(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .await?;
        let mut answer = String::new();
        socket.read_to_string(&mut answer).await?;
        Ok::<String, std::io::Error>(answer)
    };
    let answer = match tokio::time::timeout(Duration::from_secs(5), ask).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(e)) => {
            eprintln!("unhealthy: cannot ask {}: {e}", args.addr);
            return Ok(Outcome::Failure);
        }
        Err(_) => {
            eprintln!("unhealthy: {} did not answer within 5 s", args.addr);
            return Ok(Outcome::Failure);
        }
    };
    let ok = answer.split_whitespace().nth(1) == Some("200");
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    if ok {
        println!("{body}");
        Ok(Outcome::Success)
    } else {
        eprintln!("unhealthy: {body}");
        Ok(Outcome::Failure)
    }
}
