/*
 * sd_notify(3) without libsystemd: one datagram to the service manager's
 * socket ($NOTIFY_SOCKET), which Node cannot send (it has no datagram UNIX
 * sockets). The unit's Type=notify then means what it says: `systemctl
 * start` returns once the daemon listens, and fails when it exits first.
 *
 * notify(socketPath: string, message: string) => undefined
 *   socketPath: a file path, or "@name" for the abstract namespace.
 *   Throws with the errno text when the datagram cannot be sent.
 */
#include <errno.h>
#include <node_api.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_MESSAGE 4096

static napi_value throw_errno(napi_env env, const char *what, int error) {
  char text[256];
  snprintf(text, sizeof text, "%s: %s", what, strerror(error));
  napi_throw_error(env, NULL, text);
  return NULL;
}

static napi_value notify(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2) {
    napi_throw_type_error(env, NULL, "notify(socketPath, message)");
    return NULL;
  }
  struct sockaddr_un address;
  memset(&address, 0, sizeof address);
  address.sun_family = AF_UNIX;
  char path[sizeof address.sun_path + 1];
  size_t path_length = 0;
  if (napi_get_value_string_utf8(env, argv[0], path, sizeof path, &path_length) != napi_ok || path_length == 0 || path_length >= sizeof address.sun_path) {
    napi_throw_type_error(env, NULL, "the socket path is empty, not a string, or too long");
    return NULL;
  }
  char message[MAX_MESSAGE + 1];
  size_t message_length = 0;
  if (napi_get_value_string_utf8(env, argv[1], message, sizeof message, &message_length) != napi_ok || message_length == 0 || message_length >= MAX_MESSAGE) {
    napi_throw_type_error(env, NULL, "the message is empty, not a string, or too long");
    return NULL;
  }
  memcpy(address.sun_path, path, path_length);
  /* "@name": the abstract namespace, whose names begin with a NUL byte. */
  if (path[0] == '@') address.sun_path[0] = '\0';
  socklen_t address_length = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + path_length);
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  ssize_t sent = sendto(fd, message, message_length, MSG_NOSIGNAL, (struct sockaddr *)&address, address_length);
  int error = errno;
  close(fd);
  if (sent < 0) return throw_errno(env, "sendto", error);
  if ((size_t)sent != message_length) return throw_errno(env, "sendto (short)", EMSGSIZE);
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_value function;
  napi_create_function(env, "notify", NAPI_AUTO_LENGTH, notify, NULL, &function);
  napi_set_named_property(env, exports, "notify", function);
  return exports;
}
