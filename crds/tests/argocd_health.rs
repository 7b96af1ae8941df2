//! The Argo CD health check (`charts/channel-collection-operator/argocd/health.lua`),
//! executed by a real Lua interpreter against objects built from this crate's types.
//!
//! Argo CD runs health checks with gopher-lua, which hands every JSON number to the script
//! as a float; Lua 5.4 keeps integers apart. Each case therefore runs twice, once with
//! integers and once with every number turned into a float, so the script works on both.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use mlua::{Lua, LuaOptions, LuaSerdeExt, StdLib, Table};
use serde_json::Value;

use crds::testing::TestCollection;
use crds::{
    ChannelCollection, ChannelCollectionStatus, CollectionState, RunResult, RunSummary, condition,
};

const HEALTH_LUA: &str = include_str!("../../charts/channel-collection-operator/argocd/health.lua");

fn time(s: &str) -> Time {
    Time(
        s.parse::<Timestamp>()
            .expect("test timestamps are RFC 3339"),
    )
}

fn cond(type_: &str, status: &str, reason: &str, message: &str) -> Condition {
    Condition {
        type_: type_.to_owned(),
        status: status.to_owned(),
        reason: reason.to_owned(),
        message: message.to_owned(),
        observed_generation: Some(3),
        last_transition_time: time("2026-11-28T20:00:00Z"),
    }
}

/// A collection at generation 3, as the API server would return it.
struct Case {
    obj: ChannelCollection,
}

impl Case {
    fn new() -> Self {
        let obj = ChannelCollection::test()
            .channels(&["@durov", "telegram"])
            .namespaced("tg")
            .generation(3);
        Case { obj }
    }

    /// Status as the operator writes it once it has seen generation 3 and is idle and ready.
    fn ready() -> Self {
        Case::new().status(|s| {
            s.observed_generation = Some(3);
            s.state = Some(CollectionState::Idle);
            s.conditions = vec![cond(
                condition::READY,
                "True",
                "Idle",
                "next run at 2026-11-28T20:10:00Z",
            )];
            s.next_run_time = Some(time("2026-11-28T20:10:00Z"));
        })
    }

    fn status(mut self, f: impl FnOnce(&mut ChannelCollectionStatus)) -> Self {
        f(self.obj.status.get_or_insert_with(Default::default));
        self
    }

    fn suspended(mut self) -> Self {
        self.obj.spec.suspend = true;
        self
    }

    fn generation(mut self, generation: Option<i64>) -> Self {
        self.obj.metadata.generation = generation;
        self
    }

    /// Runs health.lua on the object; returns (status, message), checking that both
    /// number representations give the same answer.
    fn health(&self) -> (String, String) {
        let json = serde_json::to_value(&self.obj).expect("a ChannelCollection serializes");
        let with_ints = run_health(&json);
        let with_floats = run_health(&floats(json));
        assert_eq!(
            with_ints, with_floats,
            "integer and float numbers must give the same health"
        );
        with_ints
    }
}

/// Every number as a float, as gopher-lua (Argo CD's interpreter) sees it.
fn floats(v: Value) -> Value {
    match v {
        Value::Number(n) => n.as_f64().map(Value::from).unwrap_or(Value::Number(n)),
        Value::Array(a) => Value::Array(a.into_iter().map(floats).collect()),
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, floats(v))).collect()),
        other => other,
    }
}

fn run_health(obj: &Value) -> (String, String) {
    // Only what Argo CD's sandbox offers: base, string, table, math.
    let lua = Lua::new_with(
        StdLib::STRING | StdLib::TABLE | StdLib::MATH,
        LuaOptions::default(),
    )
    .expect("a Lua state with the standard libraries");
    // JSON null and absent fields are both nil for the script, as in Argo CD.
    let options = mlua::serde::SerializeOptions::new()
        .serialize_none_to_null(false)
        .serialize_unit_to_null(false)
        .set_array_metatable(false);
    let value = lua
        .to_value_with(obj, options)
        .expect("JSON converts to a Lua table");
    lua.globals().set("obj", value).expect("set the global obj");
    let hs: Table = lua
        .load(HEALTH_LUA)
        .set_name("health.lua")
        .eval()
        .unwrap_or_else(|e| panic!("health.lua failed: {e}"));
    let status: String = hs.get("status").expect("hs.status is a string");
    let message: String = hs.get("message").expect("hs.message is a string");
    (status, message)
}

#[track_caller]
fn assert_health(case: &Case, want_status: &str, want_message: &str) {
    let (status, message) = case.health();
    assert_eq!(status, want_status, "message was {message:?}");
    assert!(
        message.contains(want_message),
        "message {message:?} should contain {want_message:?}"
    );
}

#[test]
fn without_status_it_is_progressing() {
    assert_health(&Case::new(), "Progressing", "Waiting for the operator");
}

#[test]
fn observed_generation_behind_is_progressing_even_when_ready() {
    let case = Case::ready().status(|s| s.observed_generation = Some(2));
    assert_health(&case, "Progressing", "generation 3");
}

#[test]
fn missing_observed_generation_is_progressing() {
    let case = Case::ready().status(|s| s.observed_generation = None);
    assert_health(&case, "Progressing", "generation 3");
}

#[test]
fn ready_and_idle_is_healthy_with_the_ready_message() {
    let (status, message) = Case::ready().health();
    assert_eq!(status, "Healthy");
    assert_eq!(message, "next run at 2026-11-28T20:10:00Z");
}

#[test]
fn ready_without_a_message_names_the_next_run() {
    let case = Case::ready().status(|s| s.conditions[0].message.clear());
    assert_health(&case, "Healthy", "Idle; next run at 2026-11-28T20:10:00Z");
}

#[test]
fn ready_without_generation_in_metadata_is_healthy() {
    assert_health(&Case::ready().generation(None), "Healthy", "next run at");
}

#[test]
fn stalled_is_degraded_with_its_message() {
    let case = Case::ready().status(|s| {
        s.state = Some(CollectionState::Failed);
        s.conditions = vec![
            cond(
                condition::READY,
                "False",
                "InvalidSchedule",
                "spec.schedule: bad cron",
            ),
            cond(
                condition::STALLED,
                "True",
                "InvalidSchedule",
                "spec.schedule: bad cron",
            ),
        ];
    });
    assert_health(&case, "Degraded", "spec.schedule: bad cron");
}

#[test]
fn stalled_wins_over_collecting_and_suspend() {
    let case = Case::ready().suspended().status(|s| {
        s.state = Some(CollectionState::Collecting);
        s.conditions.push(cond(
            condition::STALLED,
            "True",
            "MissingSecret",
            "Secret tg-api not found",
        ));
    });
    assert_health(&case, "Degraded", "Secret tg-api not found");
}

#[test]
fn failed_run_is_degraded_naming_the_job() {
    let case = Case::ready().status(|s| {
        s.state = Some(CollectionState::Failed);
        s.conditions = vec![cond(
            condition::READY,
            "False",
            "RunFailed",
            "latest run failed",
        )];
        s.last_run = Some(RunSummary {
            job: "news-29410560".into(),
            result: Some(RunResult::Failed),
            reason: Some("SessionInvalid".into()),
            message: Some("the Telegram session was revoked".into()),
            ..Default::default()
        });
    });
    assert_health(
        &case,
        "Degraded",
        "news-29410560 failed: the Telegram session was revoked",
    );
}

#[test]
fn failed_without_run_summary_uses_the_ready_condition() {
    let case = Case::ready().status(|s| {
        s.state = Some(CollectionState::Failed);
        s.conditions = vec![cond(
            condition::READY,
            "False",
            "RunFailed",
            "Job news-1 was deleted",
        )];
    });
    assert_health(&case, "Degraded", "Job news-1 was deleted");
}

#[test]
fn failed_wins_over_ready_true() {
    let case = Case::ready().status(|s| {
        s.state = Some(CollectionState::Failed);
        s.last_run = Some(RunSummary {
            job: "news-7".into(),
            reason: Some("DeadlineExceeded".into()),
            ..Default::default()
        });
    });
    assert_health(&case, "Degraded", "news-7 failed: DeadlineExceeded");
}

#[test]
fn spec_suspend_is_suspended() {
    assert_health(&Case::ready().suspended(), "Suspended", "Suspended");
}

#[test]
fn state_suspended_is_suspended() {
    let case = Case::ready().status(|s| s.state = Some(CollectionState::Suspended));
    assert_health(&case, "Suspended", "Suspended");
}

#[test]
fn suspended_with_a_run_in_progress_says_so() {
    let case = Case::ready().suspended().status(|s| {
        s.state = Some(CollectionState::Collecting);
        s.currently_collecting = true;
    });
    assert_health(&case, "Suspended", "left to finish");
}

#[test]
fn collecting_is_progressing_with_progress() {
    let case = Case::ready().status(|s| {
        s.state = Some(CollectionState::Collecting);
        s.currently_collecting = true;
        s.progress = Some("3/10".into());
        s.current_channel = Some("@durov".into());
        s.channels_processed = 3;
        s.channels_total = 10;
        s.messages_collected_current_run = 12_345;
        s.errors_current_run = 1;
        s.eta = Some("4m10s".into());
        s.estimated_time_remaining = Some(250);
    });
    assert_health(
        &case,
        "Progressing",
        "Collecting 3/10 (@durov), 12345 messages, 1 errors, ETA 4m10s",
    );
}

#[test]
fn collecting_before_any_progress_is_progressing() {
    let case = Case::ready().status(|s| s.state = Some(CollectionState::Collecting));
    assert_health(&case, "Progressing", "Collecting, 0 messages, 0 errors");
}

#[test]
fn flood_wait_is_progressing_with_the_deadline() {
    let case = Case::ready().status(|s| {
        s.state = Some(CollectionState::Waiting);
        s.currently_collecting = true;
        s.current_channel = Some("telegram".into());
        s.waiting_until = Some(time("2026-11-28T20:05:00Z"));
    });
    assert_health(
        &case,
        "Progressing",
        "flood wait on telegram until 2026-11-28T20:05:00Z",
    );
}

#[test]
fn ready_false_without_reconciling_is_degraded() {
    let case = Case::ready().status(|s| {
        s.state = None;
        s.conditions = vec![cond(
            condition::READY,
            "False",
            "AuditLogUnreadable",
            "cannot read the audit log",
        )];
    });
    assert_health(&case, "Degraded", "cannot read the audit log");
}

#[test]
fn ready_false_while_reconciling_is_progressing() {
    let case = Case::ready().status(|s| {
        s.state = None;
        s.conditions = vec![
            cond(
                condition::READY,
                "False",
                "Reconciling",
                "starting Job news-5",
            ),
            cond(
                condition::RECONCILING,
                "True",
                "CreatingJob",
                "creating Job news-5",
            ),
        ];
    });
    assert_health(&case, "Progressing", "creating Job news-5");
}

#[test]
fn ready_unknown_is_progressing() {
    let case = Case::ready().status(|s| {
        s.state = None;
        s.conditions = vec![cond(condition::READY, "Unknown", "Starting", "")];
    });
    assert_health(&case, "Progressing", "Starting");
}

#[test]
fn no_conditions_yet_is_progressing() {
    let case = Case::ready().status(|s| {
        s.state = None;
        s.conditions.clear();
    });
    assert_health(&case, "Progressing", "Reconciling");
}
