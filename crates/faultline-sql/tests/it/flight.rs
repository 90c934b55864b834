//! Flight SQL with arrow-flight's own client over a real gRPC connection: statements, prepared
//! statements with a parameter, the catalog calls, errors and the token.

#![expect(clippy::unwrap_used, reason = "test helpers outside #[test] fns: a failed setup step should panic")]

use std::sync::Arc;

use arrow::array::{Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow_flight::sql::client::FlightSqlServiceClient;
use arrow_flight::sql::{CommandGetDbSchemas, CommandGetTables};
use arrow_flight::{FlightInfo, error::FlightError};
use faultline_sql::{FlightSql, Limits, Retention, serve_flight};
use futures::TryStreamExt as _;
use tonic::transport::Channel;

use crate::live::run;

/// A server over the burst's tables on a free port; its address.
async fn server(token: Option<&str>) -> (String, tokio::sync::oneshot::Sender<()>) {
    let (addr, stop, _) = server_with(token, Limits::default()).await;
    (addr, stop)
}

/// How each call ended, as the server's counter heard it.
type Heard = Arc<std::sync::Mutex<Vec<&'static str>>>;

/// A server with `limits`; its address, and what its query counter heard.
async fn server_with(token: Option<&str>, limits: Limits) -> (String, tokio::sync::oneshot::Sender<()>, Heard) {
    let engine = tokio::task::spawn_blocking(move || run(limits, Retention::default()).engine).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let heard = Heard::default();
    let h = heard.clone();
    let service = FlightSql::new(Arc::new(engine))
        .with_token(token.map(String::from))
        .on_query(Arc::new(move |result| h.lock().unwrap().push(result)));
    tokio::spawn(serve_flight(listener, service, async {
        let _ = stopped.await;
    }));
    (addr, stop, heard)
}

async fn client(addr: &str) -> FlightSqlServiceClient<Channel> {
    FlightSqlServiceClient::new(Channel::from_shared(addr.to_string()).unwrap().connect().await.unwrap())
}

async fn fetch(c: &mut FlightSqlServiceClient<Channel>, info: FlightInfo) -> Result<Vec<RecordBatch>, FlightError> {
    let mut out = Vec::new();
    for endpoint in info.endpoint {
        let ticket = endpoint.ticket.expect("each endpoint has a ticket");
        out.extend(c.do_get(ticket).await?.try_collect::<Vec<_>>().await?);
    }
    Ok(out)
}

fn strings(batches: &[RecordBatch], column: &str) -> Vec<String> {
    let mut out = Vec::new();
    for b in batches {
        let col = b.column_by_name(column).unwrap_or_else(|| panic!("no column {column}"));
        let col = arrow::compute::cast(col, &DataType::Utf8).unwrap();
        let col = col.as_any().downcast_ref::<StringArray>().unwrap();
        out.extend((0..col.len()).map(|i| col.value(i).to_string()));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_prepared_statements_and_the_catalog_over_flight_sql() {
    let (addr, _stop) = server(None).await;
    let mut c = client(&addr).await;

    // A statement: the services of the burst, with the answer's schema in the FlightInfo.
    let info = c.execute("SELECT DISTINCT service FROM signals ORDER BY service".into(), None).await.unwrap();
    let schema = info.clone().try_decode_schema().unwrap();
    assert_eq!(schema.field(0).name(), "service");
    let services = strings(&fetch(&mut c, info).await.unwrap(), "service");
    assert!(services.contains(&"payments-api".to_string()), "{services:?}");

    // A prepared statement with one parameter, bound then run: the same answer as the literal.
    let sql = "SELECT count(*) AS n FROM signals WHERE service = $1";
    let mut prepared = c.prepare(sql.into(), None).await.unwrap();
    assert_eq!(prepared.parameter_schema().unwrap().fields().len(), 1, "$1 is announced");
    let params = Schema::new(vec![Field::new("$1", DataType::Utf8, true)]);
    let batch =
        RecordBatch::try_new(Arc::new(params), vec![Arc::new(StringArray::from(vec!["payments-api"]))]).unwrap();
    prepared.set_parameters(batch).unwrap();
    let info = prepared.execute().await.unwrap();
    let bound = strings(&fetch(&mut c, info).await.unwrap(), "n");
    let info =
        c.execute("SELECT count(*) AS n FROM signals WHERE service = 'payments-api'".into(), None).await.unwrap();
    let literal = strings(&fetch(&mut c, info).await.unwrap(), "n");
    assert_eq!(bound, literal);
    assert_ne!(bound, vec!["0".to_string()], "the parameter matched rows");
    prepared.close().await.unwrap();

    // The catalog: faultline.public with its tables and views, schemas included.
    let info = c.get_catalogs().await.unwrap();
    assert!(strings(&fetch(&mut c, info).await.unwrap(), "catalog_name").contains(&"faultline".to_string()));
    let info = c
        .get_db_schemas(CommandGetDbSchemas { catalog: Some("faultline".into()), db_schema_filter_pattern: None })
        .await
        .unwrap();
    assert!(strings(&fetch(&mut c, info).await.unwrap(), "db_schema_name").contains(&"public".to_string()));
    let request = CommandGetTables {
        catalog: Some("faultline".into()),
        db_schema_filter_pattern: Some("public".into()),
        table_name_filter_pattern: Some("inc%".into()),
        table_types: vec![],
        include_schema: true,
    };
    let info = c.get_tables(request).await.unwrap();
    let tables = fetch(&mut c, info).await.unwrap();
    assert_eq!(strings(&tables, "table_name"), ["incident_events", "incidents"]);
    assert_eq!(strings(&tables, "table_type"), ["TABLE", "TABLE"]);
    let views = CommandGetTables {
        catalog: None,
        db_schema_filter_pattern: None,
        table_name_filter_pattern: None,
        table_types: vec!["VIEW".into()],
        include_schema: false,
    };
    let info = c.get_tables(views).await.unwrap();
    let names = strings(&fetch(&mut c, info).await.unwrap(), "table_name");
    for view in ["monthly_report", "noisy_services", "error_budget"] {
        assert!(names.contains(&view.to_string()), "{view} in {names:?}");
    }
    let info = c.get_table_types().await.unwrap();
    assert_eq!(strings(&fetch(&mut c, info).await.unwrap(), "table_type"), ["TABLE", "VIEW"]);

    // Errors: a syntax error names its place; a missing table; a write is refused. The server stays up.
    let e = c.execute("SELECT count(* FROM signals".into(), None).await.unwrap_err().to_string();
    assert!(e.contains("invalid argument"), "{e}");
    assert!(e.contains("Line: 1, Column"), "{e}");
    let e = c.execute("SELECT * FROM nowhere".into(), None).await.unwrap_err().to_string();
    assert!(e.contains("nowhere"), "{e}");
    let e = c.execute("DROP TABLE signals".into(), None).await.unwrap_err().to_string();
    assert!(e.contains("not supported"), "{e}");
    let e = c.prepare("SELECT count(* FROM signals WHERE service = $1".into(), None).await.unwrap_err().to_string();
    assert!(e.contains("Line: 1, Column"), "{e}");
    let info = c.execute("SELECT 1 AS one".into(), None).await.unwrap();
    assert_eq!(strings(&fetch(&mut c, info).await.unwrap(), "one"), ["1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_token_every_call_needs_it() {
    let (addr, _stop) = server(Some("s3cret")).await;
    let mut anonymous = client(&addr).await;
    let e = anonymous.execute("SELECT 1".into(), None).await.unwrap_err().to_string();
    assert!(e.contains("authentication credentials") && e.contains("Bearer <token>"), "{e}");
    let mut wrong = client(&addr).await;
    wrong.set_token("guess".into());
    assert!(wrong.get_catalogs().await.is_err());
    // Bearer works; so does a handshake with the token as the password (JDBC tools).
    let mut bearer = client(&addr).await;
    bearer.set_token("s3cret".into());
    let info = bearer.execute("SELECT 1 AS one".into(), None).await.unwrap();
    assert_eq!(strings(&fetch(&mut bearer, info).await.unwrap(), "one"), ["1"]);
    let mut basic = client(&addr).await;
    basic.handshake("dbeaver", "s3cret").await.unwrap();
    assert_eq!(basic.token().map(String::as_str), Some("s3cret"), "the handshake hands the bearer token back");
    let info = basic.execute("SELECT 2 AS two".into(), None).await.unwrap();
    assert_eq!(strings(&fetch(&mut basic, info).await.unwrap(), "two"), ["2"]);
    let mut bad = client(&addr).await;
    assert!(bad.handshake("dbeaver", "nope").await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_counted_and_an_answer_cut_at_the_row_limit_says_so() {
    let (addr, _stop, heard) = server_with(Some("s3cret"), Limits { max_rows: 3, ..Limits::default() }).await;
    let mut anonymous = client(&addr).await;
    assert!(anonymous.execute("SELECT 1".into(), None).await.is_err());
    assert_eq!(*heard.lock().unwrap(), ["unauthenticated"], "a refused call is counted");

    let mut c = client(&addr).await;
    c.set_token("s3cret".into());
    let info = c.execute("SELECT * FROM signals".into(), None).await.unwrap();
    let ticket = info.endpoint[0].ticket.clone().unwrap();
    // The raw gRPC call, to read the answer's metadata.
    let channel = Channel::from_shared(addr.clone()).unwrap().connect().await.unwrap();
    let mut raw = arrow_flight::flight_service_client::FlightServiceClient::new(channel);
    let get = |ticket: arrow_flight::Ticket| {
        let mut r = tonic::Request::new(ticket);
        r.metadata_mut().insert("authorization", "Bearer s3cret".parse().unwrap());
        r
    };
    let cut = raw.do_get(get(ticket)).await.unwrap();
    assert_eq!(cut.metadata().get("x-faultline-truncated").map(|v| v.to_str().unwrap()), Some("true"));
    assert_eq!(cut.metadata().get("x-faultline-rows").map(|v| v.to_str().unwrap()), Some("3"));
    let batches = arrow_flight::decode::FlightRecordBatchStream::new_from_flight_data(
        cut.into_inner().map_err(FlightError::from),
    )
    .try_collect::<Vec<_>>()
    .await
    .unwrap();
    assert_eq!(batches.iter().map(RecordBatch::num_rows).sum::<usize>(), 3);

    let info = c.execute("SELECT 1 AS one".into(), None).await.unwrap();
    let whole = raw.do_get(get(info.endpoint[0].ticket.clone().unwrap())).await.unwrap();
    assert!(whole.metadata().get("x-faultline-truncated").is_none(), "a whole answer is not marked cut");
    assert_eq!(whole.metadata().get("x-faultline-rows").map(|v| v.to_str().unwrap()), Some("1"));
    let heard = heard.lock().unwrap().clone();
    assert_eq!(heard.iter().filter(|r| **r == "ok").count(), 2, "{heard:?}");
}
