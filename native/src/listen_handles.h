/*
 * The native UNIX listener's handles (listen_handles.c) as the addon's
 * JavaScript functions (listen_addon.c) see them: a listening server, its
 * connections by id, and the events it reports to JavaScript.
 */
#ifndef LISTEN_HANDLES_H
#define LISTEN_HANDLES_H

#include <node_api.h>
#include <uv.h>
#include <stddef.h>
#include <stdint.h>

enum {
  EVENT_CONNECTION = 0,
  EVENT_DATA = 1,
  EVENT_END = 2,
  EVENT_ERROR = 3,
  EVENT_CLOSE = 4,
  EVENT_SHUTDOWN = 5,
  EVENT_ACCEPT_ERROR = 6,
  EVENT_CLOSED = 7,
};

/* One read's room; reads are handed on at once, so one buffer serves every connection of a server. */
#define READ_BUFFER_SIZE 65536
/* A connection's id is its slot plus SLOT_SPAN times the slot's reuse count: a stale id never names a newer connection. */
#define SLOT_SPAN 1048576.0
#define MAX_SLOTS 1048576u

typedef struct server server_t;

typedef struct {
  uv_pipe_t pipe;
  server_t *server;
  double id;
  uint32_t slot;
  size_t pending;
  int closing;
} connection_t;

typedef struct {
  uv_write_t request;
  connection_t *connection;
  size_t length;
  char data[];
} write_t;

struct server {
  uv_pipe_t pipe;
  napi_env env;
  napi_ref handler;
  napi_async_context context;
  napi_async_cleanup_hook_handle cleanup;
  connection_t **slots;
  uint32_t *reuses;
  uint32_t *free_slots;
  uint32_t capacity;
  uint32_t free_count;
  size_t open;
  int listening;
  int closing;
  int finalized;
  int released;
  /* The environment is going away: nothing is called back any more. */
  int tearing_down;
  char buffer[READ_BUFFER_SIZE];
};

/* Calls the server's handler with an event; `data` (a copy is made) or `status` as its value. */
void report(server_t *server, int event, double id, const char *data, size_t length, int status);
/* The open connection with this id, or NULL (closed, closing, or never). */
connection_t *connection_by_id(server_t *server, double id);
void close_connection(connection_t *connection);
void close_listening(server_t *server);
void on_connection(uv_stream_t *listening, int status);
void on_written(uv_write_t *request, int status);
void on_shutdown(uv_shutdown_t *request, int status);
/* Frees what a handle's data points to: for a handle closed before it was of any use. */
void on_unused_closed(uv_handle_t *handle);
void on_environment_cleanup(napi_async_cleanup_hook_handle handle, void *data);
void on_finalized(napi_env env, void *data, void *hint);

#endif
