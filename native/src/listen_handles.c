/*
 * The libuv side of the native UNIX listener (listen_addon.c says what it is
 * for): the listening handle and each connection's, their ids, the events
 * reported to JavaScript, and when the memory behind them can go.
 */
#include "listen_handles.h"

#include <stdlib.h>
#include <string.h>

/* Calls the handler as Node calls its own handles' callbacks (microtasks and nextTicks run after it). */
void report(server_t *server, int event, double id, const char *data, size_t length, int status) {
  if (server->released || server->tearing_down) return;
  napi_env env = server->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value handler, receiver, argv[3], result;
  napi_get_reference_value(env, server->handler, &handler);
  napi_get_global(env, &receiver);
  napi_create_int32(env, event, &argv[0]);
  napi_create_double(env, id, &argv[1]);
  if (data != NULL) {
    void *copy;
    napi_create_buffer_copy(env, length, data, &copy, &argv[2]);
  } else {
    napi_create_int32(env, status, &argv[2]);
  }
  if (handler != NULL && napi_make_callback(env, server->context, receiver, handler, 3, argv, &result) == napi_pending_exception) {
    napi_value error;
    if (napi_get_and_clear_last_exception(env, &error) == napi_ok) napi_fatal_exception(env, error);
  }
  napi_close_handle_scope(env, scope);
}

connection_t *connection_by_id(server_t *server, double id) {
  if (!(id >= 0)) return NULL;
  uint32_t slot = (uint32_t)(id - SLOT_SPAN * (double)(uint64_t)(id / SLOT_SPAN));
  if (slot >= server->capacity) return NULL;
  connection_t *connection = server->slots[slot];
  return connection != NULL && connection->id == id && !connection->closing ? connection : NULL;
}

static int take_slot(server_t *server, connection_t *connection) {
  if (server->free_count == 0) {
    if (server->capacity >= MAX_SLOTS) return -1;
    uint32_t grown = server->capacity == 0 ? 64 : server->capacity * 2;
    connection_t **slots = realloc(server->slots, grown * sizeof *slots);
    if (slots == NULL) return -1;
    server->slots = slots;
    uint32_t *reuses = realloc(server->reuses, grown * sizeof *reuses);
    if (reuses == NULL) return -1;
    server->reuses = reuses;
    uint32_t *free_slots = realloc(server->free_slots, grown * sizeof *free_slots);
    if (free_slots == NULL) return -1;
    server->free_slots = free_slots;
    for (uint32_t slot = grown; slot > server->capacity; slot -= 1) {
      server->slots[slot - 1] = NULL;
      server->reuses[slot - 1] = 0;
      server->free_slots[server->free_count++] = slot - 1;
    }
    server->capacity = grown;
  }
  uint32_t slot = server->free_slots[--server->free_count];
  server->slots[slot] = connection;
  connection->slot = slot;
  connection->id = (double)slot + SLOT_SPAN * (double)server->reuses[slot];
  server->reuses[slot] += 1;
  return 0;
}

/* Every handle closed, and JavaScript holds no reference: nothing of the server is left to use. */
static void release_if_done(server_t *server) {
  if (server->listening || server->open > 0 || server->released) return;
  server->released = 1;
  napi_delete_reference(server->env, server->handler);
  server->handler = NULL;
  napi_async_destroy(server->env, server->context);
  if (server->cleanup != NULL) {
    napi_remove_async_cleanup_hook(server->cleanup);
    server->cleanup = NULL;
  }
}

static void free_if_unreachable(server_t *server) {
  if (!server->released || !server->finalized) return;
  free(server->slots);
  free(server->reuses);
  free(server->free_slots);
  free(server);
}

/* A handle of the server has closed: let go of what nothing can use any more. */
static void after_handle_closed(server_t *server) {
  release_if_done(server);
  free_if_unreachable(server);
}

static void on_connection_closed(uv_handle_t *handle) {
  connection_t *connection = handle->data;
  server_t *server = connection->server;
  double id = connection->id;
  server->slots[connection->slot] = NULL;
  server->free_slots[server->free_count++] = connection->slot;
  free(connection);
  server->open -= 1;
  report(server, EVENT_CLOSE, id, NULL, 0, 0);
  after_handle_closed(server);
}

void close_connection(connection_t *connection) {
  if (connection->closing) return;
  connection->closing = 1;
  uv_close((uv_handle_t *)&connection->pipe, on_connection_closed);
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buffer) {
  (void)suggested;
  connection_t *connection = handle->data;
  buffer->base = connection->server->buffer;
  buffer->len = READ_BUFFER_SIZE;
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buffer) {
  connection_t *connection = stream->data;
  if (nread == 0 || connection->closing) return;
  if (nread > 0) {
    report(connection->server, EVENT_DATA, connection->id, buffer->base, (size_t)nread, 0);
    return;
  }
  uv_read_stop(stream);
  if (nread == UV_EOF) report(connection->server, EVENT_END, connection->id, NULL, 0, 0);
  else report(connection->server, EVENT_ERROR, connection->id, NULL, 0, (int)nread);
}

void on_unused_closed(uv_handle_t *handle) {
  free(handle->data);
}

void on_connection(uv_stream_t *listening, int status) {
  server_t *server = listening->data;
  if (status < 0) {
    report(server, EVENT_ACCEPT_ERROR, 0, NULL, 0, status);
    return;
  }
  connection_t *connection = calloc(1, sizeof *connection);
  if (connection == NULL) return;
  connection->server = server;
  uv_pipe_init(listening->loop, &connection->pipe, 0);
  connection->pipe.data = connection;
  int accepted = uv_accept(listening, (uv_stream_t *)&connection->pipe);
  if (accepted < 0 || server->closing || take_slot(server, connection) != 0) {
    uv_close((uv_handle_t *)&connection->pipe, on_unused_closed);
    if (accepted < 0) report(server, EVENT_ACCEPT_ERROR, 0, NULL, 0, accepted);
    return;
  }
  server->open += 1;
  int reading = uv_read_start((uv_stream_t *)&connection->pipe, on_alloc, on_read);
  report(server, EVENT_CONNECTION, connection->id, NULL, 0, 0);
  if (reading < 0 && !connection->closing) report(server, EVENT_ERROR, connection->id, NULL, 0, reading);
}

static void on_listening_closed(uv_handle_t *handle) {
  server_t *server = handle->data;
  server->listening = 0;
  report(server, EVENT_CLOSED, 0, NULL, 0, 0);
  after_handle_closed(server);
}

void close_listening(server_t *server) {
  if (server->closing) return;
  server->closing = 1;
  uv_close((uv_handle_t *)&server->pipe, on_listening_closed);
}

/* The environment is going away (a worker thread ending): close every handle, so its loop can close. */
void on_environment_cleanup(napi_async_cleanup_hook_handle handle, void *data) {
  (void)handle;
  server_t *server = data;
  server->tearing_down = 1;
  close_listening(server);
  for (uint32_t slot = 0; slot < server->capacity; slot += 1) {
    if (server->slots[slot] != NULL) close_connection(server->slots[slot]);
  }
}

void on_finalized(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  server_t *server = data;
  server->finalized = 1;
  free_if_unreachable(server);
}

void on_written(uv_write_t *request, int status) {
  write_t *write = (write_t *)request;
  connection_t *connection = write->connection;
  connection->pending -= write->length;
  free(write);
  if (status < 0 && !connection->closing) report(connection->server, EVENT_ERROR, connection->id, NULL, 0, status);
}

void on_shutdown(uv_shutdown_t *request, int status) {
  connection_t *connection = request->handle->data;
  free(request);
  if (!connection->closing) report(connection->server, EVENT_SHUTDOWN, connection->id, NULL, 0, status);
}
