/*
 * saslauthd's socket without Node's stream machinery. A saslauthd client
 * opens a connection per login, writes one request, reads one short reply and
 * hangs up; on that socket Node's net.Socket (a Duplex stream, its state, its
 * events, its options object copied per connection) is most of what a login
 * costs the event loop. Here libuv's own pipe handles accept, read, write and
 * close, and JavaScript is called once per event with the bytes read, nothing
 * more. The bytes are not looked at here: every rule of the protocol
 * (framing, limits, deadlines, the answer) stays in JavaScript
 * (src/protocol/native-unix-server.ts, connection.ts).
 *
 * listen(handler, where, backlog) => server
 *   where: a socket path to bind (the caller made sure it is free), or a
 *   listening descriptor (systemd's). Throws an Error with .code (EADDRINUSE,
 *   ENAMETOOLONG, ...) when it cannot listen.
 *   handler(event, id, value) is called for:
 *     0 connection   id of the new connection
 *     1 data         id, a Buffer with the bytes read
 *     2 end          id: the peer shut down its sending side
 *     3 error        id, a negative libuv error number (read or write)
 *     4 close        id: closed, after destroy(); the id is never used again
 *     5 shutdown     id, a libuv status: end()'s shutdown is done
 *     6 accept error 0, a negative libuv error number
 *     7 closed       0: the listening socket is closed (after close())
 * write(server, id, buffer) => bytes not yet taken by the kernel (0: all
 *   written), or a negative libuv error number. A copy is kept of what waits.
 * pending(server, id) => bytes written but not yet taken by the kernel.
 * end(server, id) => 0 or a negative libuv error number: shuts down the
 *   sending side once what was written has gone (event 5).
 * destroy(server, id): closes the connection (event 4 follows).
 * peer(server, id) => [pid, uid, gid] from SO_PEERCRED, or null.
 * close(server): stops accepting (event 7 follows); open connections stay.
 * isUnixStream(fd) => whether a descriptor is a UNIX stream socket (systemd
 *   may hand over a TCP one, which this code must not accept on).
 */
#include "listen_handles.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

static void throw_uv(napi_env env, const char *what, int status) {
  char message[160];
  snprintf(message, sizeof message, "%s %s: %s", what, uv_err_name(status), uv_strerror(status));
  napi_value code, text, error;
  napi_create_string_utf8(env, uv_err_name(status), NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &text);
  napi_create_error(env, code, text, &error);
  napi_throw(env, error);
}

static server_t *server_argument(napi_env env, napi_value value) {
  void *data = NULL;
  if (napi_get_value_external(env, value, &data) != napi_ok) return NULL;
  return data;
}

/* (server, id) from a call's first two arguments; the connection, or NULL when it is gone. */
static connection_t *connection_arguments(napi_env env, napi_callback_info info, size_t wanted, napi_value *argv) {
  size_t argc = wanted;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < wanted) return NULL;
  server_t *server = server_argument(env, argv[0]);
  double id;
  if (server == NULL || server->released || napi_get_value_double(env, argv[1], &id) != napi_ok) return NULL;
  return connection_by_id(server, id);
}

static napi_value number(napi_env env, double value) {
  napi_value result;
  napi_create_double(env, value, &result);
  return result;
}

static napi_value js_listen(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3) {
    napi_throw_type_error(env, NULL, "listen(handler, pathOrFd, backlog)");
    return NULL;
  }
  napi_valuetype kind;
  int32_t backlog;
  napi_typeof(env, argv[1], &kind);
  if (napi_get_value_int32(env, argv[2], &backlog) != napi_ok || backlog < 1) {
    napi_throw_type_error(env, NULL, "backlog must be a positive number");
    return NULL;
  }
  char path[sizeof ((struct sockaddr_un *)NULL)->sun_path];
  int32_t fd = -1;
  if (kind == napi_string) {
    size_t length;
    if (napi_get_value_string_utf8(env, argv[1], NULL, 0, &length) != napi_ok || length == 0) {
      napi_throw_type_error(env, NULL, "a socket path");
      return NULL;
    }
    // The kernel's limit for a socket's path (libuv would cut a longer one short).
    if (length >= sizeof path) {
      throw_uv(env, "listen", UV_ENAMETOOLONG);
      return NULL;
    }
    napi_get_value_string_utf8(env, argv[1], path, sizeof path, &length);
  } else if (napi_get_value_int32(env, argv[1], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, NULL, "a socket path or a descriptor");
    return NULL;
  }
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
    napi_throw_error(env, NULL, "no event loop");
    return NULL;
  }
  server_t *server = calloc(1, sizeof *server);
  if (server == NULL) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  server->env = env;
  uv_pipe_init(loop, &server->pipe, 0);
  server->pipe.data = server;
  int status = kind == napi_string ? uv_pipe_bind(&server->pipe, path) : uv_pipe_open(&server->pipe, fd);
  if (status == 0) status = uv_listen((uv_stream_t *)&server->pipe, backlog, on_connection);
  if (status != 0) {
    // Never listened: nothing calls back into JavaScript; the handle's close frees it.
    server->released = 1;
    server->finalized = 1;
    server->closing = 1;
    uv_close((uv_handle_t *)&server->pipe, on_unused_closed);
    throw_uv(env, kind == napi_string ? "listen" : "listen on descriptor", status);
    return NULL;
  }
  server->listening = 1;
  napi_value resource, name, external;
  napi_create_object(env, &resource);
  napi_create_string_utf8(env, "saslauthd-mysql:unix-listener", NAPI_AUTO_LENGTH, &name);
  napi_create_reference(env, argv[0], 1, &server->handler);
  napi_async_init(env, resource, name, &server->context);
  napi_add_async_cleanup_hook(env, on_environment_cleanup, server, &server->cleanup);
  napi_create_external(env, server, on_finalized, NULL, &external);
  return external;
}

static napi_value js_write(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  connection_t *connection = connection_arguments(env, info, 3, argv);
  if (connection == NULL) return number(env, UV_EBADF);
  void *data;
  size_t length;
  if (napi_get_buffer_info(env, argv[2], &data, &length) != napi_ok || length > UINT32_MAX) return number(env, UV_EINVAL);
  size_t written = 0;
  if (connection->pending == 0) {
    uv_buf_t whole = uv_buf_init(data, (unsigned int)length);
    int taken = uv_try_write((uv_stream_t *)&connection->pipe, &whole, 1);
    if (taken < 0 && taken != UV_EAGAIN) return number(env, taken);
    if (taken > 0) written = (size_t)taken;
  }
  if (written == length) return number(env, (double)connection->pending);
  size_t rest = length - written;
  write_t *request = malloc(sizeof *request + rest);
  if (request == NULL) return number(env, UV_ENOMEM);
  memcpy(request->data, (const char *)data + written, rest);
  request->connection = connection;
  request->length = rest;
  uv_buf_t remaining = uv_buf_init(request->data, (unsigned int)rest);
  int status = uv_write(&request->request, (uv_stream_t *)&connection->pipe, &remaining, 1, on_written);
  if (status < 0) {
    free(request);
    return number(env, status);
  }
  connection->pending += rest;
  return number(env, (double)connection->pending);
}

static napi_value js_pending(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  connection_t *connection = connection_arguments(env, info, 2, argv);
  return number(env, connection == NULL ? 0 : (double)connection->pending);
}

static napi_value js_end(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  connection_t *connection = connection_arguments(env, info, 2, argv);
  if (connection == NULL) return number(env, UV_EBADF);
  uv_shutdown_t *request = malloc(sizeof *request);
  if (request == NULL) return number(env, UV_ENOMEM);
  int status = uv_shutdown(request, (uv_stream_t *)&connection->pipe, on_shutdown);
  if (status < 0) free(request);
  return number(env, status);
}

static napi_value js_destroy(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  connection_t *connection = connection_arguments(env, info, 2, argv);
  if (connection != NULL) close_connection(connection);
  return NULL;
}

static napi_value js_peer(napi_env env, napi_callback_info info) {
  napi_value argv[2], result;
  napi_get_null(env, &result);
  connection_t *connection = connection_arguments(env, info, 2, argv);
  uv_os_fd_t fd;
  if (connection == NULL || uv_fileno((uv_handle_t *)&connection->pipe, &fd) != 0) return result;
  struct ucred credentials;
  socklen_t length = sizeof credentials;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0 || length != sizeof credentials) return result;
  napi_create_array_with_length(env, 3, &result);
  napi_set_element(env, result, 0, number(env, credentials.pid));
  napi_set_element(env, result, 1, number(env, credentials.uid));
  napi_set_element(env, result, 2, number(env, credentials.gid));
  return result;
}

static napi_value js_is_unix_stream(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd = -1;
  int type = 0;
  struct sockaddr_storage address;
  socklen_t type_length = sizeof type, address_length = sizeof address;
  bool answer = napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc == 1 && napi_get_value_int32(env, argv[0], &fd) == napi_ok && fd >= 0 &&
                getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_length) == 0 && type == SOCK_STREAM &&
                getsockname(fd, (struct sockaddr *)&address, &address_length) == 0 && address.ss_family == AF_UNIX;
  napi_value result;
  napi_get_boolean(env, answer, &result);
  return result;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) return NULL;
  server_t *server = server_argument(env, argv[0]);
  if (server != NULL && !server->released) close_listening(server);
  return NULL;
}

NAPI_MODULE_INIT() {
  const struct {
    const char *name;
    napi_callback callback;
  } functions[] = {
    {"listen", js_listen}, {"write", js_write}, {"pending", js_pending}, {"end", js_end},
    {"destroy", js_destroy}, {"peer", js_peer}, {"close", js_close}, {"isUnixStream", js_is_unix_stream},
  };
  for (size_t i = 0; i < sizeof functions / sizeof functions[0]; i += 1) {
    napi_value function;
    napi_create_function(env, functions[i].name, NAPI_AUTO_LENGTH, functions[i].callback, NULL, &function);
    napi_set_named_property(env, exports, functions[i].name, function);
  }
  return exports;
}
