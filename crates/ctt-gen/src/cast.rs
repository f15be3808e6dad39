//! The cast of a generated trail: accounts (and the organisation), regions,
//! IAM users (students, the teacher), roles (SSO permission sets, service
//! roles), and the `userIdentity` objects each of them produces.
//!
//! The cast is drawn once from the seed and shared by every generated day.

use rand::{RngExt, SeedableRng};
use serde_json::{Value, json};

use crate::ids::{self, GenRng};
use crate::preset::Profile;

/// The account the teaching activity happens in.
pub(crate) const MAIN_ACCOUNT: &str = "974349055189";
/// The second account of an organisation trail.
pub(crate) const SECOND_ACCOUNT: &str = "581392047716";
/// The organisation id used in organisation-trail keys.
pub(crate) const ORGANIZATION_ID: &str = "o-5mf2kq9x7w";
/// The alias of the main account (what `userIdentity.userName` holds for root).
pub(crate) const MAIN_ALIAS: &str = "cloud-teaching";
/// SSO users of the account (IAM Identity Center).
pub(crate) const SSO_PEOPLE: [&str; 3] = [
    "maria.garcia@example.edu",
    "jose.lopez@example.edu",
    "ana.martin@example.edu",
];
/// Salt separating the cast's random stream from the days' streams.
const CAST_SALT: u64 = 0x6361_7374_0000_0001;

/// An IAM user with long-term credentials.
#[derive(Debug)]
pub(crate) struct IamUser {
    pub name: String,
    pub principal_id: String,
    pub access_key: String,
    pub home_ip: String,
}

/// An IAM role; its ARN is `arn:aws:iam::ACCOUNT:role/{path}{name}`.
#[derive(Debug)]
pub(crate) struct Role {
    pub name: String,
    pub path: &'static str,
    pub principal_id: String,
}

/// The roles every account has.
#[derive(Debug)]
pub(crate) struct Roles {
    pub sso_admin: Role,
    pub sso_read_only: Role,
    pub provisioner: Role,
    pub ecs_instance: Role,
    pub emr_service: Role,
    pub lambda_exec: Role,
    pub autoscaling: Role,
    pub load_balancing: Role,
}

/// One AWS account whose trail is generated.
#[derive(Debug)]
pub(crate) struct Account {
    pub id: &'static str,
    pub alias: &'static str,
    /// Multiplier of the background (service) activity.
    pub load: f64,
    pub roles: Roles,
}

/// Everything that acts in the generated trail.
#[derive(Debug)]
pub(crate) struct Cast {
    pub organization: Option<&'static str>,
    pub accounts: Vec<Account>,
    pub regions: Vec<&'static str>,
    pub students: Vec<IamUser>,
    pub teacher: IamUser,
    /// Public addresses of the university's network (labs are run from there).
    pub campus_ips: Vec<String>,
}

impl Cast {
    pub(crate) fn new(seed: u64, profile: &Profile, organization: bool) -> Cast {
        let mut rng = GenRng::seed_from_u64(seed ^ CAST_SALT);
        let students = (1..=profile.students)
            .map(|n| iam_user(&mut rng, format!("alucloud{n:03}")))
            .collect();
        let teacher = iam_user(&mut rng, "teacher".to_string());
        let mut accounts = vec![account(&mut rng, MAIN_ACCOUNT, MAIN_ALIAS, 1.0)];
        if organization {
            accounts.push(account(&mut rng, SECOND_ACCOUNT, "cloud-research", 0.3));
        }
        let campus_ips = (0..4)
            .map(|_| {
                format!(
                    "158.42.{}.{}",
                    rng.random_range(1..255u16),
                    rng.random_range(1..255u16)
                )
            })
            .collect();
        Cast {
            organization: organization.then_some(ORGANIZATION_ID),
            accounts,
            regions: profile.regions.iter().map(|r| r.name).collect(),
            students,
            teacher,
            campus_ips,
        }
    }
}

fn iam_user(rng: &mut GenRng, name: String) -> IamUser {
    let home_ip = format!(
        "{}.{}.{}.{}",
        [37, 62, 79, 83, 88, 95, 176, 188, 213][rng.random_range(0..9usize)],
        rng.random_range(0..256u16),
        rng.random_range(0..256u16),
        rng.random_range(1..255u16)
    );
    IamUser {
        name,
        principal_id: ids::principal_id(rng, "AIDA"),
        access_key: ids::access_key_id(rng, "AKIA"),
        home_ip,
    }
}

fn role(rng: &mut GenRng, name: &str, path: &'static str) -> Role {
    Role {
        name: name.to_string(),
        path,
        principal_id: ids::principal_id(rng, "AROA"),
    }
}

fn account(rng: &mut GenRng, id: &'static str, alias: &'static str, load: f64) -> Account {
    let sso = "aws-reserved/sso.amazonaws.com/eu-west-1/";
    let roles = Roles {
        sso_admin: role(rng, "AWSReservedSSO_AdministratorAccess_abcdef", sso),
        sso_read_only: role(rng, "AWSReservedSSO_ReadOnlyAccess_123456", sso),
        provisioner: role(rng, "LabProvisioner", ""),
        ecs_instance: role(rng, "ecsInstanceRole", ""),
        emr_service: role(rng, "EMR_DefaultRole", ""),
        lambda_exec: role(rng, "lambda-lab-execution", "service-role/"),
        autoscaling: role(
            rng,
            "AWSServiceRoleForAutoScaling",
            "aws-service-role/autoscaling.amazonaws.com/",
        ),
        load_balancing: role(
            rng,
            "AWSServiceRoleForElasticLoadBalancing",
            "aws-service-role/elasticloadbalancing.amazonaws.com/",
        ),
    };
    Account {
        id,
        alias,
        load,
        roles,
    }
}

impl Account {
    pub(crate) fn role_arn(&self, role: &Role) -> String {
        format!("arn:aws:iam::{}:role/{}{}", self.id, role.path, role.name)
    }

    /// `userIdentity` of an IAM user; `console_since` is the console session's
    /// creation time when the call comes from the console.
    pub(crate) fn iam_user_identity(
        &self,
        user: &IamUser,
        access_key: &str,
        console_since: Option<&str>,
    ) -> Value {
        let mut identity = json!({
            "type": "IAMUser",
            "principalId": user.principal_id,
            "arn": format!("arn:aws:iam::{}:user/{}", self.id, user.name),
            "accountId": self.id,
            "accessKeyId": access_key,
            "userName": user.name,
        });
        if let Some(created) = console_since {
            identity["sessionContext"] = json!({
                "sessionIssuer": {},
                "webIdFederationData": {},
                "attributes": {"creationDate": created, "mfaAuthenticated": "false"},
            });
        }
        identity
    }

    /// `userIdentity` of a role session; `source_identity` is set by the
    /// principal that assumed the role (`sts:SetSourceIdentity`).
    pub(crate) fn assumed_role_identity(
        &self,
        role: &Role,
        session: &str,
        access_key: &str,
        created: &str,
        source_identity: Option<&str>,
    ) -> Value {
        let mut context = json!({
            "sessionIssuer": {
                "type": "Role",
                "principalId": role.principal_id,
                "arn": self.role_arn(role),
                "accountId": self.id,
                "userName": role.name,
            },
            "webIdFederationData": {},
            "attributes": {"creationDate": created, "mfaAuthenticated": "false"},
        });
        if let Some(source) = source_identity {
            context["sourceIdentity"] = json!(source);
        }
        json!({
            "type": "AssumedRole",
            "principalId": format!("{}:{}", role.principal_id, session),
            "arn": format!("arn:aws:sts::{}:assumed-role/{}/{}", self.id, role.name, session),
            "accountId": self.id,
            "accessKeyId": access_key,
            "sessionContext": context,
        })
    }

    /// `userIdentity` of the account's root user; `userName` (the account
    /// alias) is present on some records only, as in real trails.
    pub(crate) fn root_identity(&self, access_key: &str, with_alias: bool) -> Value {
        let mut identity = json!({
            "type": "Root",
            "principalId": self.id,
            "arn": format!("arn:aws:iam::{}:root", self.id),
            "accountId": self.id,
            "accessKeyId": access_key,
        });
        if with_alias {
            identity["userName"] = json!(self.alias);
        }
        identity
    }
}

/// `userIdentity` of an AWS service acting on the account's behalf.
pub(crate) fn aws_service_identity(invoked_by: &str) -> Value {
    json!({"type": "AWSService", "invokedBy": invoked_by})
}
