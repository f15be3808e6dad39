//! Generated tables of cases, one per family of `docs/redaction.md` (SPEC §3):
//! every spelling of every secret name, nested in objects and lists, under every
//! value shape; name/value shapes; URL schemes; PEM types; JSON in strings; and
//! what must be kept.

use super::*;
use serde_json::json;

/// The spellings of a name made of `words`: camelCase, PascalCase, snake_case,
/// kebab-case, UPPER_SNAKE, lowercase, a plural and a numbered one.
fn spellings(words: &[&str]) -> Vec<String> {
    let cap = |w: &str| {
        let mut c = w.chars();
        c.next()
            .map(|f| f.to_uppercase().chain(c).collect::<String>())
            .unwrap_or_default()
    };
    let camel: String = words
        .iter()
        .enumerate()
        .map(|(i, w)| if i == 0 { (*w).to_owned() } else { cap(w) })
        .collect();
    let pascal: String = words.iter().map(|w| cap(w)).collect();
    let snake = words.join("_");
    vec![
        camel.clone(),
        pascal,
        snake.clone(),
        words.join("-"),
        snake.to_uppercase(),
        words.concat(),
        format!("{camel}s"),
        format!("{}S", snake.to_uppercase()),
        format!("{camel}2"),
    ]
}

/// Secret names, as words (family 1).
const SECRET_NAMES: &[&[&str]] = &[
    &["password"],
    &["db", "password"],
    &["master", "user", "password"],
    &["passwd"],
    &["mysql", "pwd"],
    &["passphrase"],
    &["secret"],
    &["client", "secret"],
    &["secret", "string"],
    &["secret", "binary"],
    &["token"],
    &["session", "token"],
    &["authorization", "token"],
    &["web", "identity", "token"],
    &["github", "token"],
    &["id", "token"],
    &["refresh", "token"],
    &["token", "value"],
    &["credential"],
    &["private", "key"],
    &["private", "key", "pem"],
    &["key", "material"],
    &["api", "key"],
    &["secret", "access", "key"],
    &["access", "key"],
    &["pre", "shared", "key"],
    &["auth", "key"],
    &["token", "code"],
    &["authentication", "code"],
    &["authorization"],
    &["cookie"],
    &["connection", "string"],
    &["password", "hash"],
];

const NEIGHBOURS: [(&str, &str); 4] = [
    ("keyName", "kp-neighbour"),
    ("accessKeyId", "AKIANEIGHBOUR"),
    (
        "secretArn",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf",
    ),
    ("nextToken", "page-neighbour"),
];

/// `{KEY: value, …neighbours}` placed: at the top of `requestParameters`,
/// nested two objects deep, in a list element, in a Lambda environment.
fn placements(key: &str, value: &Value) -> Vec<Value> {
    let mut object = Map::new();
    object.insert(key.to_owned(), value.clone());
    for (k, v) in NEIGHBOURS {
        object.insert(k.to_owned(), json!(v));
    }
    let object = Value::Object(object);
    vec![
        json!({"requestParameters": object}),
        json!({"requestParameters": {"a": {"b": object}}}),
        json!({"responseElements": {"items": [{"x": 1}, object]}}),
        json!({"requestParameters": {"environment": {"variables": object}}}),
    ]
}

/// The value shapes a secret comes in; each holds `s3cr3t` or `918273645`.
fn secret_shapes(n: usize) -> Vec<Value> {
    vec![
        json!(format!("s3cr3t-{n}")),
        json!(918273645),
        json!([format!("s3cr3t-a-{n}"), format!("s3cr3t-b-{n}")]),
        json!([{"value": format!("s3cr3t-{n}")}, [format!("s3cr3t-c-{n}")]]),
        json!({"value": format!("s3cr3t-{n}"), "keyId": "kept-id", "nested": {"x": "s3cr3t"}}),
    ]
}

fn assert_neighbours_kept(record: &Value, text: &str) {
    for (_, value) in NEIGHBOURS {
        assert!(text.contains(value), "neighbour {value} lost: {record}");
    }
}

#[test]
fn family_1_every_spelling_placement_and_shape_of_a_secret_name_is_redacted() {
    let mut cases = 0;
    for (n, words) in SECRET_NAMES.iter().enumerate() {
        for key in spellings(words) {
            assert!(is_secret_name(&key), "{key}");
            for shape in secret_shapes(n) {
                for mut record in placements(&key, &shape) {
                    let replaced = redact(&mut record);
                    let text = record.to_string();
                    assert!(
                        replaced > 0 && !text.contains("s3cr3t") && !text.contains("918273645"),
                        "{key} = {shape} left in {text}"
                    );
                    assert!(text.contains(&format!("\"{key}\"")), "{key} itself kept");
                    assert!(text.contains(REDACTED));
                    assert_neighbours_kept(&record, &text);
                    if shape.is_object() {
                        assert!(text.contains("kept-id"), "identifiers in a secret object");
                    }
                    cases += 1;
                }
            }
        }
    }
    assert!(cases > 5000, "{cases}");
}

#[test]
fn family_1_a_secret_object_keeps_its_identifiers_and_replaces_every_other_leaf() {
    // STS AssumeRole, IAM CreateAccessKey, an unknown bundle, ECS secrets.
    let mut record = json!({"responseElements": {
        "credentials": {"accessKeyId": "ASIAKEPT", "sessionToken": "FQoG-s3cr3t",
            "secretAccessKey": "wJalr-s3cr3t", "expiration": "Jun 1, 2017 10:51:28 PM",
            "somethingNew": "s3cr3t-new"},
        "accessKey": {"userName": "alice", "accessKeyId": "AKIAKEPT", "status": "Active",
            "secretAccessKey": "s3cr3t", "createDate": "Sep 27, 2022 5:09:18 PM"},
        "containerDefinitions": [{"name": "web", "secrets": [
            {"name": "DB_PASSWORD", "valueFrom": "arn:aws:ssm:us-east-1:123456789012:parameter/db"}]}],
        "passwordResetRequired": true, "forceOverwriteReplicaSecret": false, "token": null,
    }});
    redact(&mut record);
    let r = &record["responseElements"];
    assert_eq!(r["credentials"]["accessKeyId"], "ASIAKEPT");
    assert_eq!(r["credentials"]["expiration"], "Jun 1, 2017 10:51:28 PM");
    assert_eq!(r["credentials"]["sessionToken"], REDACTED);
    assert_eq!(r["credentials"]["secretAccessKey"], REDACTED);
    assert_eq!(
        r["credentials"]["somethingNew"], REDACTED,
        "unknown leaves fail closed"
    );
    assert_eq!(r["accessKey"]["userName"], "alice");
    assert_eq!(r["accessKey"]["accessKeyId"], "AKIAKEPT");
    assert_eq!(r["accessKey"]["status"], "Active");
    assert_eq!(r["accessKey"]["createDate"], "Sep 27, 2022 5:09:18 PM");
    assert_eq!(r["accessKey"]["secretAccessKey"], REDACTED);
    let secret = &r["containerDefinitions"][0]["secrets"][0];
    assert_eq!(secret["name"], "DB_PASSWORD");
    assert_eq!(
        secret["valueFrom"], "arn:aws:ssm:us-east-1:123456789012:parameter/db",
        "an ARN is not a secret"
    );
    assert_eq!(r["passwordResetRequired"], true, "booleans are kept");
    assert_eq!(r["forceOverwriteReplicaSecret"], false);
    assert_eq!(r["token"], Value::Null);
    assert!(!record.to_string().contains("s3cr3t"), "{record}");
}

#[test]
fn family_2_name_value_pairs_with_a_secret_name_lose_their_value() {
    let names = [
        ("name", "value"),
        ("Name", "Value"),
        ("key", "value"),
        ("Key", "Value"),
        ("parameterKey", "parameterValue"),
        ("ParameterKey", "ParameterValue"),
        ("ParameterName", "ParameterValue"),
        ("OptionName", "Value"),
        ("variableName", "variableValue"),
    ];
    let secret_names = [
        "DB_PASSWORD",
        "DBPassword",
        "db-password",
        "/prod/db/password",
        "GITHUB_TOKEN",
        "stripe_api_key",
        "ClientSecret",
        "JWT_SECRETS",
    ];
    let innocent_names = [
        "DB_HOST",
        "LOG_LEVEL",
        "nextToken",
        "PASSWORD_RESET_URL",
        "keyId",
    ];
    let mut cases = 0;
    for (name_key, value_key) in names {
        for (n, secret_name) in secret_names.iter().enumerate() {
            for value in [
                json!(format!("s3cr3t-{n}")),
                json!(["s3cr3t"]),
                json!({"v": "s3cr3t"}),
            ] {
                let pair = json!({name_key: secret_name, value_key: value, "Namespace": "aws:env"});
                let innocent = json!({name_key: innocent_names[n % innocent_names.len()],
                    value_key: "plain-value"});
                for mut record in [
                    json!({"requestParameters": {"environment": [innocent, pair]}}),
                    json!({"requestParameters": {"parameters": [pair, innocent]}}),
                    json!({"requestParameters": {"optionSettings": {"one": pair, "two": [innocent]}}}),
                ] {
                    redact(&mut record);
                    let text = record.to_string();
                    assert!(!text.contains("s3cr3t"), "{text}");
                    assert!(
                        text.contains(&json!(secret_name).to_string()),
                        "name kept: {text}"
                    );
                    assert!(
                        text.contains("plain-value"),
                        "an innocent pair is kept: {text}"
                    );
                    assert!(text.contains("aws:env"));
                    cases += 1;
                }
            }
        }
    }
    assert!(cases > 500, "{cases}");

    // SSM-like: the type marks the value.
    let mut record = json!({"requestParameters": {"name": "/app/db", "type": "SecureString",
        "value": "s3cr3t", "overwrite": true}});
    redact(&mut record);
    assert_eq!(record["requestParameters"]["value"], REDACTED);
    assert_eq!(record["requestParameters"]["name"], "/app/db");
    assert_eq!(record["requestParameters"]["overwrite"], true);
}

#[test]
fn family_3_url_passwords_are_redacted_and_the_rest_kept() {
    let schemes = [
        "postgres",
        "postgresql",
        "mysql",
        "mongodb+srv",
        "redis",
        "amqps",
        "https",
        "http",
        "ftp",
        "jdbc:postgresql",
        "git+ssh",
    ];
    // (url after the scheme, what it becomes)
    let forms = [
        (
            "user:s3cr3t@db.example.com/app",
            "user:REDACTED@db.example.com/app",
        ),
        (
            "user:s3cr3t@db.example.com:5432/app?sslmode=require",
            "user:REDACTED@db.example.com:5432/app?sslmode=require",
        ),
        (":s3cr3t@cache:6379", ":REDACTED@cache:6379"),
        ("us%40er:p%40ss-s3cr3t@host", "us%40er:REDACTED@host"),
        ("user:p@ss:w0rd-s3cr3t@host/x", "user:REDACTED@host/x"),
        (
            "host/path?X-Amz-Security-Token=s3cr3t&X-Amz-Date=20180101T000000Z",
            "host/path?X-Amz-Security-Token=REDACTED&X-Amz-Date=20180101T000000Z",
        ),
        (
            "host/cb?access_token=s3cr3t#frag",
            "host/cb?access_token=REDACTED#frag",
        ),
        (
            "u:s3cr3t@h/p?password=s3cr3t2;next_token=n",
            "u:REDACTED@h/p?password=REDACTED;next_token=n",
        ),
    ];
    let mut cases = 0;
    for scheme in schemes {
        for (url, expected) in forms {
            for (before, after) in [
                ("", ""),
                ("could not connect to ", ": timeout"),
                ("a=\"", "\" b"),
            ] {
                let text = format!("{before}{scheme}://{url}{after}");
                let want = format!("{before}{scheme}://{expected}{after}");
                let mut record = json!({"errorMessage": text,
                    "requestParameters": {"connections": [{"url": text}]}});
                assert!(redact(&mut record) >= 2, "{text}");
                assert_eq!(record["errorMessage"], want.as_str(), "{text}");
                assert_eq!(
                    record["requestParameters"]["connections"][0]["url"],
                    want.as_str()
                );
                cases += 1;
            }
        }
    }
    assert!(cases > 200, "{cases}");
    // Two URLs in one string.
    let mut two = json!("from https://a:s3cr3t1@x/ to ftp://b:s3cr3t2@y");
    assert_eq!(redact(&mut two), 2);
    assert_eq!(two, "from https://a:REDACTED@x/ to ftp://b:REDACTED@y");
}

#[test]
fn family_4_private_keys_in_pem_are_replaced_whole() {
    let kinds = [
        "RSA PRIVATE KEY",
        "EC PRIVATE KEY",
        "DSA PRIVATE KEY",
        "PRIVATE KEY",
        "ENCRYPTED PRIVATE KEY",
        "OPENSSH PRIVATE KEY",
        "PGP PRIVATE KEY BLOCK",
    ];
    for kind in kinds {
        let pem = format!("-----BEGIN {kind}-----\nMIIEs3cr3tAAKCAQEA\n-----END {kind}-----\n");
        for mut record in [
            json!({"responseElements": {"keyMaterial": pem, "keyName": "kp"}}),
            json!({"requestParameters": {"userData": format!("#!/bin/sh\necho '{pem}' > k")}}),
            json!({"requestParameters": {"files": [{"content": pem}]}}),
            json!({"requestParameters": {"doc": json!({"k": [pem]}).to_string()}}),
        ] {
            assert!(redact(&mut record) > 0, "{kind}");
            assert!(!record.to_string().contains("s3cr3t"), "{record}");
        }
    }
    let cert = "-----BEGIN CERTIFICATE-----\nMIIDpublic\n-----END CERTIFICATE-----";
    let public = "-----BEGIN PUBLIC KEY-----\nMFkwpublic\n-----END PUBLIC KEY-----";
    let mut record = json!({"requestParameters": {"certificateBody": cert, "doc": public}});
    assert_eq!(
        redact(&mut record),
        0,
        "certificates and public keys are kept"
    );
}

#[test]
fn family_5_json_inside_strings_is_redacted_and_re_serialised() {
    let docs = [
        json!({"DB_PASSWORD": "s3cr3t", "DB_HOST": "db.internal"}),
        json!([{"name": "API_TOKEN", "value": "s3cr3t"}, {"name": "DB_HOST", "value": "db.internal"}]),
        json!({"Statement": [{"Effect": "Allow", "Resource": "db.internal",
            "Condition": {"x": "postgres://u:s3cr3t@h/d"}}]}),
        // Nested twice: a string of JSON inside a string of JSON.
        json!({"inner": json!({"password": "s3cr3t", "host": "db.internal"}).to_string()}),
    ];
    for doc in docs {
        for text in [
            doc.to_string(),
            serde_json::to_string_pretty(&doc).expect("json"),
        ] {
            let mut record = json!({"requestParameters": {"environment": text,
                "list": [format!("  {text}\n")]}});
            assert!(redact(&mut record) >= 2, "{text}");
            let stored = record.to_string();
            assert!(!stored.contains("s3cr3t"), "{stored}");
            assert!(stored.contains("db.internal"), "neighbours kept: {stored}");
            let reparsed: Value = serde_json::from_str(
                record["requestParameters"]["environment"]
                    .as_str()
                    .expect("a string"),
            )
            .expect("still JSON");
            assert!(reparsed.is_object() || reparsed.is_array());
        }
    }
    // Nothing secret inside: the string is kept byte for byte.
    let policy = "{ \"Version\" : \"2012-10-17\",\n  \"Statement\": [] }";
    let mut record = json!({"requestParameters": {"policyDocument": policy}});
    assert_eq!(redact(&mut record), 0);
    assert_eq!(record["requestParameters"]["policyDocument"], policy);
    // A key given twice: which one a reader sees is undecided, so the whole string goes.
    let mut record =
        json!({"requestParameters": {"doc": "{\"a\":{\"password\":\"s3cr3t\"},\"a\":1}"}});
    assert_eq!(redact(&mut record), 1);
    assert_eq!(record["requestParameters"]["doc"], REDACTED);
    // Deeper than MAX_EMBEDDED_DEPTH: replaced whole.
    let mut deep = json!({"x": 1});
    for _ in 0..=MAX_EMBEDDED_DEPTH {
        deep = json!({"d": deep.to_string()});
    }
    let mut record = json!({"requestParameters": {"doc": deep.to_string()}});
    redact(&mut record);
    assert!(record.to_string().contains(REDACTED));
}

#[test]
fn identifiers_and_ordinary_fields_are_not_redacted() {
    // Each decision of docs/redaction.md, "What is kept".
    let kept_names = [
        "eventName",
        "keyName",
        "keyId",
        "KeyId",
        "kmsKeyId",
        "accessKeyId",
        "AWS_ACCESS_KEY_ID",
        "accessKeyIds",
        "secretArn",
        "SecretARN",
        "secretId",
        "SecretVersionId",
        "secretName",
        "nextToken",
        "NextToken",
        "paginationToken",
        "clientToken",
        "ClientRequestToken",
        "idempotencyToken",
        "changeToken",
        "lockToken",
        "nextLockToken",
        "sequenceToken",
        "httpTokens",
        "tokenType",
        "publicKey",
        "publicKeyMaterial",
        "key",
        "Key",
        "tagKeys",
        "encryptionKey",
        "keyFingerprint",
        "passwordResetRequired",
        "PasswordUpdated",
        "passwordLastUsed",
        "passwordPolicy",
        "CredentialType",
        "credentialId",
        "mfaAuthenticated",
        "errorCode",
        "productCodes",
        "authorizationType",
        "serialNumber",
        "x-amz-server-side-encryption-customer-key-MD5",
        "certificate",
        "userAgent",
    ];
    for name in kept_names {
        assert!(!is_secret_name(name), "{name}");
        let mut record = json!({"requestParameters": {name: "kept-value"}});
        assert_eq!(redact(&mut record), 0, "{name}");
        assert_eq!(record["requestParameters"][name], "kept-value");
    }
    let kept_values = [
        "https://example.com/path?x=1&next_token=abc",
        "ssh://git@github.com/org/repo.git",
        "https://host:8443/a?email=a@b.example",
        "alice@example.com",
        "[S3Console/0.4, aws-internal/3 aws-sdk-java/1.11.509]",
        "[not json",
        "{\"Version\":\"2012-10-17\"}",
        "arn:aws:kms:us-east-1:123456789012:key/abcd",
        "-----BEGIN CERTIFICATE-----",
        "",
    ];
    for value in kept_values {
        let mut record = json!({"requestParameters": {"v": value}, "userAgent": value});
        assert_eq!(redact(&mut record), 0, "{value}");
        assert_eq!(record["requestParameters"]["v"], value);
        assert_eq!(record["userAgent"], value);
    }
}

#[test]
fn counts_each_replaced_value_and_keeps_sts_identifiers() {
    let mut record = json!({"responseElements": {"credentials": {
        "accessKeyId": "ASIAXXX", "sessionToken": "FQoG-secret", "secretAccessKey": "wJalr-secret",
        "expiration": "Jun 1, 2017 10:51:28 PM"}}});
    assert_eq!(redact(&mut record), 2);
    let mut record = json!({"requestParameters": {"items": [
        {"masterUserPassword": "hunter2"}, {"SecretString": "s"}, {"client_secret": "c"}],
        "secretId": "my-secret-name", "nextToken": "page-2"}});
    assert_eq!(redact(&mut record), 3);
    assert_eq!(record["requestParameters"]["secretId"], "my-secret-name");
    assert_eq!(record["requestParameters"]["nextToken"], "page-2");
}
