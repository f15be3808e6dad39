//! SPEC §3: secrets are never stored or returned.
//!
//! - every `sessionToken`/`secretAccessKey` of the corpus and of generated logs;
//! - one record per family of `docs/redaction.md` (secret names, name/value pairs,
//!   URLs with credentials, PEM private keys, JSON in strings), each secret a
//!   value found nowhere else, searched for in the database file's bytes.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{Value, json};

use crate::support::{Workspace, corpus, generate_small, run};

/// Every string value of a field named sessionToken or secretAccessKey, at any depth.
fn secrets_in(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                match (key.as_str(), child) {
                    ("sessionToken" | "secretAccessKey", Value::String(s))
                        if s.len() >= 8 && s != "REDACTED" =>
                    {
                        out.insert(s.clone());
                    }
                    _ => secrets_in(child, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| secrets_in(i, out)),
        _ => {}
    }
}

fn secrets_in_tree(root: &Path, out: &mut BTreeSet<String>) {
    for entry in walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(Result::ok)
    {
        if !entry.file_type().is_file() {
            continue;
        }
        let bytes = std::fs::read(entry.path()).expect("read");
        let raw = if bytes.starts_with(&[0x1f, 0x8b]) {
            let mut raw = Vec::new();
            std::io::Read::read_to_end(
                &mut flate2::read::MultiGzDecoder::new(bytes.as_slice()),
                &mut raw,
            )
            .map(|_| raw)
            .unwrap_or_default()
        } else {
            bytes
        };
        let text = String::from_utf8_lossy(&raw);
        let values: Vec<Value> = match serde_json::from_str(&text) {
            Ok(v) => vec![v],
            Err(_) => text
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect(),
        };
        values.iter().for_each(|v| secrets_in(v, out));
    }
}

#[test]
fn no_secret_from_any_input_reaches_the_database_file() {
    let ws = Workspace::new();
    let logs = ws.path("logs");
    generate_small(&logs, 9);
    let mut secrets = BTreeSet::new();
    secrets_in_tree(&corpus(), &mut secrets);
    secrets_in_tree(&logs, &mut secrets);
    assert!(
        secrets.len() > 20,
        "the inputs do hold credentials: {}",
        secrets.len()
    );

    let config = ws.path("keep-all.toml");
    std::fs::write(&config, "[filter]\nkeep_all = true\n").expect("config");
    let config = config.to_string_lossy().into_owned();
    ws.ingest(&[&corpus(), &logs], &["--config", &config]);

    let mut cmd = ws.ctt();
    cmd.args([
        "scan",
        "--from",
        "2000-01-01",
        "--to",
        "2100-01-01",
        "--format",
        "ndjson",
    ]);
    let answer = String::from_utf8_lossy(&run(&mut cmd).stdout).into_owned();
    assert!(answer.lines().count() > 1000);

    let stored = database_bytes(&ws);
    assert!(
        stored.contains(r#""eventVersion""#),
        "the stored records are searched in clear"
    );
    for secret in &secrets {
        assert!(
            !stored.contains(secret.as_str()),
            "secret {secret:.12}… found in the database file"
        );
        assert!(
            !answer.contains(secret.as_str()),
            "secret {secret:.12}… found in an answer"
        );
    }
    assert!(stored.contains("REDACTED"));
}

/// The stored bytes: the database file, its WAL and shared memory, if
/// present, then every stored record (events' and alerts') decompressed —
/// records stored after the store's first 4,000 are compressed (schema 21),
/// where a secret would not show in the file's bytes.
fn database_bytes(ws: &Workspace) -> String {
    let mut stored = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let path = format!("{}{suffix}", ws.db().display());
        stored.extend(std::fs::read(&path).unwrap_or_default());
    }
    let conn = rusqlite::Connection::open(ws.db()).expect("open the database");
    let dictionaries: std::collections::HashMap<u8, Vec<u8>> = conn
        .prepare("SELECT id, dictionary FROM record_dictionaries")
        .expect("prepare")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("dictionaries")
        .collect::<rusqlite::Result<_>>()
        .expect("dictionaries");
    for table in ["records", "alert_records"] {
        let mut stmt = conn
            .prepare(&format!("SELECT record FROM {table}"))
            .expect("prepare");
        let mut rows = stmt.query([]).expect("records");
        while let Some(row) = rows.next().expect("record") {
            match row.get_ref(0).expect("record") {
                rusqlite::types::ValueRef::Blob(blob) => {
                    let dictionary = &dictionaries[&blob[0]];
                    let text = zstd::bulk::Decompressor::with_dictionary(dictionary)
                        .and_then(|mut d| d.decompress(&blob[1..], 1 << 24))
                        .expect("a compressed record");
                    stored.extend(text);
                }
                other => stored.extend(other.as_bytes().expect("text")),
            }
            stored.push(b'\n');
        }
    }
    String::from_utf8_lossy(&stored).into_owned()
}

/// A record of `event_name` at minute `n` with the given request and response.
fn record(n: usize, event_name: &str, request: Value, response: Value) -> Value {
    json!({
        "eventVersion": "1.08",
        "userIdentity": {"type": "IAMUser", "userName": "e2e-user", "accountId": "123456789012",
            "accessKeyId": "AKIAE2ENEIGHBOUR"},
        "eventTime": format!("2024-05-01T10:{n:02}:00Z"),
        "eventSource": "e2e.amazonaws.com",
        "eventName": event_name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": "192.0.2.1",
        "userAgent": "aws-cli/2.15.0",
        "requestParameters": request,
        "responseElements": response,
        "eventID": format!("e2e-secret-event-{n}"),
        "eventType": "AwsApiCall",
        "recipientAccountId": "123456789012"
    })
}

#[test]
fn every_redaction_family_keeps_its_secret_out_of_the_database_file() {
    // Each secret is a value found nowhere else; each neighbour must be kept.
    let s = |family: &str| format!("e2e-s3cr3t-{family}-Zq8x");
    let pem = |kind: &str, family: &str| {
        format!(
            "-----BEGIN {kind}-----\nMIIE{}\n-----END {kind}-----\n",
            s(family)
        )
    };
    let records = vec![
        // Family 1: secret names, every spelling, plurals and lists.
        record(
            0,
            "CreateKeyPair",
            json!({"keyName": "e2e-keypair", "keyType": "rsa"}),
            json!({"keyName": "e2e-keypair", "keyFingerprint": "1f:51:ae", "keyPairId": "key-0e2e",
                "keyMaterial": pem("RSA PRIVATE KEY", "keymaterial")}),
        ),
        record(
            1,
            "AssumeRoleWithWebIdentity",
            json!({"roleSessionName": "e2e-session", "webIdentityToken": s("webidentitytoken"),
                "roleArn": "arn:aws:iam::123456789012:role/e2e"}),
            json!({"credentials": {"accessKeyId": "ASIAE2ENEIGHBOUR", "sessionToken": s("sessiontoken"),
                "secretAccessKey": s("secretaccesskey"), "expiration": "May 1, 2024, 11:00:00 AM"}}),
        ),
        record(
            2,
            "GetAuthorizationToken",
            json!({}),
            json!({"authorizationData": [{"authorizationToken": s("authorizationtoken"),
                "expiresAt": "May 1, 2024, 10:02:00 PM"}]}),
        ),
        record(
            3,
            "CreateFunction20150331",
            json!({"functionName": "e2e-function", "environment": {"variables": {
                "GITHUB_TOKEN": s("github_token"), "LOG_LEVEL": "e2e-debug"}}}),
            Value::Null,
        ),
        record(
            4,
            "UpdateUser",
            json!({"userName": "e2e-user", "sessionTokens": [s("plural-1"), s("plural-2")],
                "passwords": [s("passwords")], "passphrase": s("passphrase"), "token": s("token"),
                "db-pwd": s("db-pwd"), "API_KEY": s("api_key"), "tokenCode": s("tokencode"),
                "SecretString": s("secretstring"), "passwordResetRequired": true,
                "nextToken": "e2e-next-token", "secretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:e2e"}),
            Value::Null,
        ),
        // Family 2: name/value pairs.
        record(
            5,
            "RegisterTaskDefinition",
            json!({"family": "e2e-task", "containerDefinitions": [{"name": "web", "environment": [
                {"name": "DB_PASSWORD", "value": s("ecs-env")}, {"name": "DB_HOST", "value": "e2e-db.internal"}]}]}),
            Value::Null,
        ),
        record(
            6,
            "CreateStack",
            json!({"stackName": "e2e-stack", "parameters": [
                {"parameterKey": "DBPassword", "parameterValue": s("cfn-parameter")},
                {"parameterKey": "InstanceType", "parameterValue": "e2e-t3.micro"}]}),
            Value::Null,
        ),
        record(
            7,
            "PutParameter",
            json!({"name": "/e2e/app/endpoint", "type": "SecureString", "value": s("securestring"),
                "tags": [{"Key": "api_token", "Value": s("ssm-tag")}, {"Key": "team", "Value": "e2e-team"}]}),
            Value::Null,
        ),
        // Family 3: URLs with credentials, also in typed attributes.
        {
            let mut r = record(
                8,
                "CreateDBInstance",
                json!({"dBInstanceIdentifier": "e2e-db",
                    "connectionUrl": format!("postgres://e2e-admin:{}@e2e-db.internal:5432/app", s("postgres")),
                    "repository": format!("https://deploy:{}@git.example.com/e2e.git", s("https")),
                    "presigned": format!("https://b.s3.amazonaws.com/k?X-Amz-Security-Token={}&X-Amz-Date=20240501", s("query"))}),
                Value::Null,
            );
            r["errorCode"] = json!("ConnectionError");
            r["errorMessage"] = json!(format!(
                "cannot reach mysql://root:{}@e2e-mysql:3306",
                s("errormessage")
            ));
            r["userAgent"] = json!(format!(
                "e2e-agent fetch=https://u:{}@e2e.example.com",
                s("useragent")
            ));
            r
        },
        // Family 4: PEM private keys under innocent names.
        record(
            9,
            "RunInstances",
            json!({"instanceType": "e2e-t3.large",
                "userData": format!("#!/bin/sh\ncat > k <<EOF\n{}EOF", pem("OPENSSH PRIVATE KEY", "userdata")),
                "files": [pem("EC PRIVATE KEY", "ec"), pem("PRIVATE KEY", "pkcs8")]}),
            Value::Null,
        ),
        // Family 5: JSON inside strings.
        record(
            10,
            "UpdateFunctionConfiguration",
            json!({"functionName": "e2e-function-2",
                "environment": json!({"DB_PASSWORD": s("json-env"), "DB_HOST": "e2e-json-host"}).to_string(),
                "policy": json!({"Statement": [{"Effect": "Allow", "Condition": {"x":
                    format!("redis://:{}@e2e-cache:6379", s("json-url"))}}]}).to_string(),
                "nested": json!({"inner": json!([{"name": "API_TOKEN", "value": s("json-nested")}]).to_string()}).to_string()}),
            Value::Null,
        ),
    ];
    let ws = Workspace::new();
    let logs = ws.path("logs");
    std::fs::create_dir_all(&logs).expect("logs dir");
    let file = json!({"Records": records}).to_string();
    std::fs::write(logs.join("families.json"), &file).expect("log file");
    let secrets: Vec<&str> = file
        .match_indices("e2e-s3cr3t-")
        .map(|(at, _)| {
            let end = file[at..].find("-Zq8x").expect("secret end") + at + "-Zq8x".len();
            &file[at..end]
        })
        .collect();
    assert!(secrets.len() >= 30, "{} secrets", secrets.len());

    let config = ws.path("keep-all.toml");
    std::fs::write(&config, "[filter]\nkeep_all = true\n").expect("config");
    let config = config.to_string_lossy().into_owned();
    let (report, code) = ws.ingest(&[&logs], &["--config", &config]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(
        ws.count(&["scan", "--from", "2024-05-01", "--to", "2024-05-02"]),
        records_len(&file),
        "every record is stored: {report}"
    );

    let mut cmd = ws.ctt();
    cmd.args([
        "scan",
        "--from",
        "2024-05-01",
        "--to",
        "2024-05-02",
        "--format",
        "ndjson",
    ]);
    let answer = String::from_utf8_lossy(&run(&mut cmd).stdout).into_owned();
    let stored = database_bytes(&ws);
    for secret in &secrets {
        assert!(
            !stored.contains(secret),
            "{secret} found in the database file"
        );
        assert!(!answer.contains(secret), "{secret} found in an answer");
    }
    // The neighbours of the secrets are kept, and so are the parts of a URL around
    // its password.
    for kept in [
        "e2e-keypair",
        "1f:51:ae",
        "AKIAE2ENEIGHBOUR",
        "ASIAE2ENEIGHBOUR",
        "May 1, 2024, 10:02:00 PM",
        "e2e-debug",
        "e2e-next-token",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:e2e",
        "e2e-db.internal",
        "e2e-t3.micro",
        "/e2e/app/endpoint",
        "e2e-team",
        "postgres://e2e-admin:REDACTED@e2e-db.internal:5432/app",
        "X-Amz-Date=20240501",
        "mysql://root:REDACTED@e2e-mysql:3306",
        "e2e-t3.large",
        "e2e-json-host",
        "e2e-cache:6379",
    ] {
        assert!(stored.contains(kept), "{kept} is kept in the database file");
    }
    assert!(
        answer.contains("https://u:REDACTED@e2e.example.com"),
        "typed attributes come from the redacted record: {answer}"
    );
}

fn records_len(file: &str) -> u64 {
    serde_json::from_str::<Value>(file).expect("json")["Records"]
        .as_array()
        .map_or(0, |r| r.len() as u64)
}
