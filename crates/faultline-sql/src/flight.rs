//! Arrow Flight SQL over the same session as `POST /api/v1/sql`: statement queries, prepared
//! statements with parameters, and the catalog calls (`GetCatalogs`, `GetDbSchemas`,
//! `GetTables`, `GetTableTypes`, `GetSqlInfo`) that ADBC and JDBC clients and tools such as
//! DBeaver make when they connect. Read-only, with the engine's limits.
//!
//! The server keeps nothing per client: a statement's ticket is its SQL, a prepared statement's
//! handle is its SQL and, once bound, its parameters (so a prepared statement survives a
//! restart and any instance behind a balancer can answer it). An optional bearer token guards
//! every call; Basic authentication with the token as password gets it from a handshake (what
//! JDBC tools send).

use std::pin::Pin;
use std::sync::Arc;

use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::{FlightService, FlightServiceServer};
use arrow_flight::sql::metadata::{SqlInfoData, SqlInfoDataBuilder};
use arrow_flight::sql::server::{FlightSqlService, PeekableFlightDataStream};
use arrow_flight::sql::{
    ActionClosePreparedStatementRequest, ActionCreatePreparedStatementRequest, ActionCreatePreparedStatementResult,
    CommandGetCatalogs, CommandGetDbSchemas, CommandGetSqlInfo, CommandGetTableTypes, CommandGetTables,
    CommandPreparedStatementQuery, CommandStatementQuery, DoPutPreparedStatementResult, ProstMessageExt as _, SqlInfo,
    TicketStatementQuery,
};
use arrow_flight::{
    FlightData, FlightDescriptor, FlightEndpoint, FlightInfo, HandshakeRequest, HandshakeResponse, Ticket,
};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::arrow::ipc::writer::IpcWriteOptions;
use datafusion::common::ScalarValue;
use futures::{Stream, TryStreamExt as _};
use prost::Message as _;
use tonic::metadata::MetadataValue;
use tonic::{Request, Response, Status, Streaming};

use crate::engine::{SqlEngine, SqlError};

/// How a call ended, for the caller's counters: `ok` or the error's kind.
pub type OnQuery = Arc<dyn Fn(&'static str) + Send + Sync>;

/// The Flight SQL service over one [`SqlEngine`].
#[derive(Clone)]
pub struct FlightSql {
    engine: Arc<SqlEngine>,
    token: Option<Arc<str>>,
    on_query: Option<OnQuery>,
    info: Arc<SqlInfoData>,
}

impl std::fmt::Debug for FlightSql {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlightSql").field("token", &self.token.as_ref().map(|_| "…")).finish_non_exhaustive()
    }
}

impl FlightSql {
    /// A service answering from `engine`, open to anyone who reaches the port.
    pub fn new(engine: Arc<SqlEngine>) -> FlightSql {
        let mut info = SqlInfoDataBuilder::new();
        info.append(SqlInfo::FlightSqlServerName, "Faultline");
        info.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
        // The Arrow IPC format version (Schema.fbs's MetadataVersion V5 is "1.3").
        info.append(SqlInfo::FlightSqlServerArrowVersion, "1.3");
        info.append(SqlInfo::FlightSqlServerReadOnly, true);
        info.append(SqlInfo::FlightSqlServerSql, true);
        info.append(SqlInfo::FlightSqlServerSubstrait, false);
        info.append(SqlInfo::FlightSqlServerTransaction, 0i32);
        info.append(SqlInfo::FlightSqlServerCancel, false);
        info.append(SqlInfo::SqlIdentifierQuoteChar, "\"");
        let info = Arc::new(info.build().expect("fixed server information builds"));
        FlightSql { engine, token: None, on_query: None, info }
    }

    /// Every call must carry `authorization: Bearer <token>` (or Basic with the token as password).
    pub fn with_token(mut self, token: Option<String>) -> FlightSql {
        self.token = token.filter(|t| !t.is_empty()).map(Arc::from);
        self
    }

    /// `f` hears how each query ended.
    pub fn on_query(mut self, f: OnQuery) -> FlightSql {
        self.on_query = Some(f);
        self
    }

    /// The gRPC service, with the token checked on every call when there is one.
    pub fn into_service(
        self,
    ) -> tonic::service::interceptor::InterceptedService<FlightServiceServer<FlightSql>, TokenCheck> {
        let check = TokenCheck { token: self.token.clone(), on_query: self.on_query.clone() };
        // Answers of up to the row limit go in one message per batch: no size cap on the way out,
        // 16 MiB on the way in (parameters, tickets).
        let server = FlightServiceServer::new(self).max_decoding_message_size(16 << 20);
        tonic::service::interceptor::InterceptedService::new(server, check)
    }

    fn count(&self, kind: &'static str) {
        if let Some(f) = &self.on_query {
            f(kind);
        }
    }

    /// `sql` (with `params`) planned: its `FlightInfo` with one endpoint whose ticket is `ticket`.
    async fn info_for(
        &self,
        sql: &str,
        params: Vec<ScalarValue>,
        ticket: Vec<u8>,
        descriptor: FlightDescriptor,
    ) -> Result<Response<FlightInfo>, Status> {
        let described = self.engine.describe(sql, params).await.map_err(|e| self.refuse(e))?;
        let info = FlightInfo::new()
            .try_with_schema(&described.answer)
            .map_err(|e| Status::internal(format!("encoding the answer's schema: {e}")))?
            .with_endpoint(FlightEndpoint::new().with_ticket(Ticket::new(ticket)))
            .with_descriptor(descriptor)
            .with_ordered(true);
        Ok(Response::new(info))
    }

    /// Runs `sql` and streams its answer.
    async fn answer(&self, sql: &str, params: Vec<ScalarValue>) -> Result<Response<DoGetStream>, Status> {
        let (schema, batches, truncated) = self.engine.run_with(sql, params).await.map_err(|e| self.refuse(e))?;
        self.count("ok");
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        let mut response = Response::new(stream_of(schema, batches));
        // The same words as HTTP's headers, as gRPC metadata: a client can tell an answer
        // stopped at the row limit from a whole one.
        response.metadata_mut().insert("x-faultline-rows", rows.into());
        if truncated {
            tracing::info!(max_rows = self.engine.limits().max_rows, "a Flight SQL answer stopped at the row limit");
            response
                .metadata_mut()
                .insert("x-faultline-truncated", tonic::metadata::MetadataValue::from_static("true"));
        }
        Ok(response)
    }

    fn refuse(&self, e: SqlError) -> Status {
        self.count(e.kind());
        status_of(&e)
    }
}

type DoGetStream = Pin<Box<dyn Stream<Item = Result<FlightData, Status>> + Send + 'static>>;

fn stream_of(schema: SchemaRef, batches: Vec<RecordBatch>) -> DoGetStream {
    let stream = FlightDataEncoderBuilder::new()
        .with_schema(schema)
        .build(futures::stream::iter(batches.into_iter().map(Ok)))
        .map_err(Status::from);
    Box::pin(stream)
}

fn one(batch: Result<RecordBatch, FlightError>) -> Result<Response<DoGetStream>, Status> {
    let batch = batch.map_err(|e| Status::internal(format!("building the catalog's answer: {e}")))?;
    Ok(Response::new(stream_of(batch.schema(), vec![batch])))
}

/// The gRPC status of a query's error: the message is the engine's (a parse error names its line and column).
pub fn status_of(e: &SqlError) -> Status {
    let message = e.to_string();
    match e {
        SqlError::Invalid(_) | SqlError::Plan(_) => Status::invalid_argument(message),
        SqlError::Memory { .. } => Status::resource_exhausted(message),
        SqlError::Timeout(_) => Status::deadline_exceeded(message),
        SqlError::Execution(_) => Status::internal(message),
    }
}

/// The interceptor that checks the bearer token.
#[derive(Clone)]
pub struct TokenCheck {
    token: Option<Arc<str>>,
    /// Hears `unauthenticated` for each call refused.
    on_query: Option<OnQuery>,
}

impl std::fmt::Debug for TokenCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCheck").field("required", &self.token.is_some()).finish()
    }
}

impl tonic::service::Interceptor for TokenCheck {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let Some(token) = &self.token else { return Ok(request) };
        let given = request.metadata().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
        if token_matches(given, token) {
            return Ok(request);
        }
        if let Some(f) = &self.on_query {
            f("unauthenticated");
        }
        if given.is_empty() {
            Err(Status::unauthenticated(
                "this server needs `authorization: Bearer <token>` (the FAULTLINE_SQL_TOKEN of the server)",
            ))
        } else {
            Err(Status::unauthenticated("the token is not this server's"))
        }
    }
}

/// Whether an `authorization` header carries `token`: `Bearer <token>`, or
/// `Basic base64(user:token)` with any user.
pub fn token_matches(header: &str, token: &str) -> bool {
    if let Some(given) = header.strip_prefix("Bearer ") {
        return same(given.trim().as_bytes(), token.as_bytes());
    }
    if let Some(encoded) = header.strip_prefix("Basic ") {
        use base64::Engine as _;
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else { return false };
        let password = decoded.splitn(2, |&b| b == b':').nth(1).unwrap_or(&[]);
        return same(password, token.as_bytes());
    }
    false
}

/// Equal, in a time that does not depend on where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A prepared statement's handle: a version byte, the SQL's length (u32, little-endian), the
/// SQL, then its bound parameters as an Arrow IPC stream of one row (nothing when unbound).
#[derive(Debug, Clone, PartialEq)]
struct Handle {
    sql: String,
    params: Option<RecordBatch>,
}

const HANDLE_VERSION: u8 = 1;

impl Handle {
    fn encode(&self) -> Result<Vec<u8>, Status> {
        let mut out = vec![HANDLE_VERSION];
        out.extend_from_slice(&(self.sql.len() as u32).to_le_bytes());
        out.extend_from_slice(self.sql.as_bytes());
        if let Some(batch) = &self.params {
            datafusion::arrow::ipc::writer::StreamWriter::try_new(&mut out, &batch.schema())
                .and_then(|mut w| w.write(batch).and_then(|()| w.finish()))
                .map_err(|e| Status::internal(format!("encoding the parameters: {e}")))?;
        }
        Ok(out)
    }

    fn decode(bytes: &[u8]) -> Result<Handle, Status> {
        let bad = || Status::invalid_argument("not a prepared statement handle of this server");
        let (&version, rest) = bytes.split_first().ok_or_else(bad)?;
        if version != HANDLE_VERSION || rest.len() < 4 {
            return Err(bad());
        }
        let (len, rest) = rest.split_at(4);
        let len = u32::from_le_bytes(len.try_into().map_err(|_| bad())?) as usize;
        if rest.len() < len {
            return Err(bad());
        }
        let (sql, params) = rest.split_at(len);
        let sql = String::from_utf8(sql.to_vec()).map_err(|_| bad())?;
        let params = if params.is_empty() {
            None
        } else {
            let reader = datafusion::arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(params), None)
                .map_err(|_| bad())?;
            let batches = reader.collect::<Result<Vec<_>, _>>().map_err(|_| bad())?;
            batches.into_iter().next()
        };
        Ok(Handle { sql, params })
    }

    /// The bound values, `$1`, `$2`… in column order.
    fn values(&self) -> Result<Vec<ScalarValue>, Status> {
        let Some(batch) = &self.params else { return Ok(Vec::new()) };
        batch
            .columns()
            .iter()
            .map(|c| ScalarValue::try_from_array(c, 0))
            .collect::<Result<_, _>>()
            .map_err(|e| Status::invalid_argument(format!("reading a parameter: {e}")))
    }
}

fn ipc_schema(schema: &Schema) -> Result<prost::bytes::Bytes, Status> {
    let message: arrow_flight::IpcMessage = arrow_flight::SchemaAsIpc::new(schema, &IpcWriteOptions::default())
        .try_into()
        .map_err(|e| Status::internal(format!("encoding a schema: {e}")))?;
    Ok(message.0)
}

#[tonic::async_trait]
impl FlightSqlService for FlightSql {
    type FlightService = FlightSql;

    async fn do_handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<Pin<Box<dyn Stream<Item = Result<HandshakeResponse, Status>> + Send>>>, Status> {
        // The interceptor let it through: the credentials are good (or none are needed).
        let payload = self.token.as_deref().unwrap_or("").as_bytes().to_vec();
        let reply = HandshakeResponse { protocol_version: 0, payload: payload.into() };
        let mut response: Response<Pin<Box<dyn Stream<Item = _> + Send>>> =
            Response::new(Box::pin(futures::stream::iter([Ok(reply)])));
        if let Some(token) = &self.token {
            let bearer = MetadataValue::try_from(format!("Bearer {token}"))
                .map_err(|_| Status::internal("the token is not a valid header value"))?;
            response.metadata_mut().insert("authorization", bearer);
        }
        drop(request);
        Ok(response)
    }

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let ticket = TicketStatementQuery { statement_handle: query.query.clone().into_bytes().into() };
        self.info_for(&query.query, Vec::new(), ticket.as_any().encode_to_vec(), request.into_inner()).await
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        _request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let sql = std::str::from_utf8(&ticket.statement_handle)
            .map_err(|_| Status::invalid_argument("a statement ticket of this server is its SQL, in UTF-8"))?;
        self.answer(sql, Vec::new()).await
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        _request: Request<arrow_flight::Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        let described = self.engine.describe(&query.query, Vec::new()).await.map_err(|e| self.refuse(e))?;
        let handle = Handle { sql: query.query, params: None }.encode()?;
        let parameter_schema =
            if described.params.fields().is_empty() { Default::default() } else { ipc_schema(&described.params)? };
        Ok(ActionCreatePreparedStatementResult {
            prepared_statement_handle: handle.into(),
            dataset_schema: ipc_schema(&described.answer)?,
            parameter_schema,
        })
    }

    async fn do_put_prepared_statement_query(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<DoPutPreparedStatementResult, Status> {
        let handle = Handle::decode(&query.prepared_statement_handle)?;
        let data = request.into_inner().map_err(FlightError::from);
        let batches: Vec<RecordBatch> = FlightRecordBatchStream::new_from_flight_data(data)
            .try_collect()
            .await
            .map_err(|e| Status::invalid_argument(format!("reading the parameters: {e}")))?;
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        if rows != 1 {
            return Err(Status::invalid_argument(format!(
                "a query takes one row of parameters, not {rows} (run it once per row)"
            )));
        }
        let Some(params) = batches.into_iter().find(|b| b.num_rows() == 1) else {
            return Err(Status::invalid_argument("no parameters came"));
        };
        let bound = Handle { sql: handle.sql, params: Some(params) };
        // Planned now, so a parameter of the wrong type is refused here, not at the fetch.
        self.engine.describe(&bound.sql, bound.values()?).await.map_err(|e| self.refuse(e))?;
        Ok(DoPutPreparedStatementResult { prepared_statement_handle: Some(bound.encode()?.into()) })
    }

    async fn get_flight_info_prepared_statement(
        &self,
        cmd: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let handle = Handle::decode(&cmd.prepared_statement_handle)?;
        let values = handle.values()?;
        self.info_for(&handle.sql, values, cmd.as_any().encode_to_vec(), request.into_inner()).await
    }

    async fn do_get_prepared_statement(
        &self,
        cmd: CommandPreparedStatementQuery,
        _request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let handle = Handle::decode(&cmd.prepared_statement_handle)?;
        let values = handle.values()?;
        self.answer(&handle.sql, values).await
    }

    async fn do_action_close_prepared_statement(
        &self,
        _query: ActionClosePreparedStatementRequest,
        _request: Request<arrow_flight::Action>,
    ) -> Result<(), Status> {
        // Nothing is kept per statement.
        Ok(())
    }

    async fn get_flight_info_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let ticket = query.as_any().encode_to_vec();
        catalog_info(&query.into_builder().schema(), ticket, request.into_inner())
    }

    async fn do_get_catalogs(
        &self,
        query: CommandGetCatalogs,
        _request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let mut builder = query.into_builder();
        let mut names = self.engine.tables().await.into_iter().map(|t| t.catalog).collect::<Vec<_>>();
        names.dedup();
        for name in names {
            builder.append(name);
        }
        one(builder.build())
    }

    async fn get_flight_info_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let ticket = query.as_any().encode_to_vec();
        catalog_info(&query.into_builder().schema(), ticket, request.into_inner())
    }

    async fn do_get_schemas(
        &self,
        query: CommandGetDbSchemas,
        _request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let mut builder = query.into_builder();
        let mut schemas = self.engine.tables().await.into_iter().map(|t| (t.catalog, t.schema)).collect::<Vec<_>>();
        schemas.dedup();
        for (catalog, schema) in schemas {
            builder.append(catalog, schema);
        }
        one(builder.build())
    }

    async fn get_flight_info_tables(
        &self,
        query: CommandGetTables,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let ticket = query.as_any().encode_to_vec();
        catalog_info(&query.into_builder().schema(), ticket, request.into_inner())
    }

    async fn do_get_tables(
        &self,
        query: CommandGetTables,
        _request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let mut builder = query.into_builder();
        for t in self.engine.tables().await {
            builder.append(&t.catalog, &t.schema, &t.name, t.kind, &t.columns).map_err(Status::from)?;
        }
        one(builder.build())
    }

    async fn get_flight_info_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let ticket = query.as_any().encode_to_vec();
        catalog_info(&query.into_builder().schema(), ticket, request.into_inner())
    }

    async fn do_get_table_types(
        &self,
        query: CommandGetTableTypes,
        _request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let mut builder = query.into_builder();
        for kind in ["TABLE", "VIEW"] {
            builder.append(kind);
        }
        one(builder.build())
    }

    async fn get_flight_info_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let ticket = query.as_any().encode_to_vec();
        catalog_info(&query.into_builder(&self.info).schema(), ticket, request.into_inner())
    }

    async fn do_get_sql_info(
        &self,
        query: CommandGetSqlInfo,
        _request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        one(query.into_builder(&self.info).build())
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}

/// The `FlightInfo` of a catalog call: its fixed schema and a ticket that repeats the command.
fn catalog_info(
    schema: &Schema,
    ticket: Vec<u8>,
    descriptor: FlightDescriptor,
) -> Result<Response<FlightInfo>, Status> {
    let info = FlightInfo::new()
        .try_with_schema(schema)
        .map_err(|e| Status::internal(format!("encoding a schema: {e}")))?
        .with_endpoint(FlightEndpoint::new().with_ticket(Ticket::new(ticket)))
        .with_descriptor(descriptor);
    Ok(Response::new(info))
}

/// Serves Flight SQL on `listener` until `shutdown` resolves.
pub async fn serve_flight(
    listener: tokio::net::TcpListener,
    service: FlightSql,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    tonic::transport::Server::builder()
        .add_service(service.into_service())
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field};

    #[test]
    fn a_handle_carries_its_sql_and_its_bound_parameters() {
        let plain = Handle { sql: "SELECT $1 || 'é'".into(), params: None };
        assert_eq!(Handle::decode(&plain.encode().unwrap()).unwrap(), plain);
        let schema = Arc::new(Schema::new(vec![
            Field::new("$1", DataType::Utf8, true),
            Field::new("$2", DataType::Int64, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![Arc::new(StringArray::from(vec!["payments-api"])), Arc::new(Int64Array::from(vec![7]))],
        )
        .unwrap();
        let bound = Handle { sql: "SELECT * FROM signals WHERE service = $1 LIMIT $2".into(), params: Some(batch) };
        let back = Handle::decode(&bound.encode().unwrap()).unwrap();
        assert_eq!(back, bound);
        assert_eq!(back.values().unwrap(), vec![ScalarValue::from("payments-api"), ScalarValue::Int64(Some(7))]);
    }

    #[test]
    fn a_handle_from_elsewhere_is_refused_not_misread() {
        for bytes in [
            &b""[..],
            b"\x01\x05\x00",
            b"\x02\x01\x00\x00\x00x",
            b"\x01\xff\x00\x00\x00SELECT",
            b"\x01\x01\x00\x00\x00xGARBAGE",
        ] {
            let e = Handle::decode(bytes).unwrap_err();
            assert_eq!(e.code(), tonic::Code::InvalidArgument, "{bytes:?}");
        }
    }

    #[test]
    fn the_token_comes_as_bearer_or_as_a_basic_password() {
        assert!(token_matches("Bearer s3cret", "s3cret"));
        assert!(!token_matches("Bearer s3cre", "s3cret"));
        assert!(!token_matches("Bearer s3cretX", "s3cret"));
        // base64("dbeaver:s3cret")
        assert!(token_matches("Basic ZGJlYXZlcjpzM2NyZXQ=", "s3cret"));
        // base64("dbeaver:wrong")
        assert!(!token_matches("Basic ZGJlYXZlcjp3cm9uZw==", "s3cret"));
        assert!(!token_matches("Basic !!!", "s3cret"));
        assert!(!token_matches("s3cret", "s3cret"));
    }
}
