/*
 * Who is at the other end of a UNIX socket: the kernel's answer
 * (getsockopt SO_PEERCRED), which the peer cannot choose. The listener core
 * counts connections per peer by it, so that one local user cannot take
 * every connection of the daemon.
 *
 * peerCredentials(fd: number) => { pid, uid, gid } | null
 *   null: not a UNIX socket, or the kernel would not say.
 */
#include <node_api.h>
#include <sys/socket.h>
#include <sys/types.h>

static napi_value peer_credentials(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_value result;
  napi_get_null(env, &result);
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) return result;
  int32_t fd;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) return result;
  struct ucred credentials;
  socklen_t length = sizeof credentials;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0 || length != sizeof credentials) return result;
  napi_value pid, uid, gid;
  napi_create_object(env, &result);
  napi_create_int32(env, credentials.pid, &pid);
  napi_create_uint32(env, credentials.uid, &uid);
  napi_create_uint32(env, credentials.gid, &gid);
  napi_set_named_property(env, result, "pid", pid);
  napi_set_named_property(env, result, "uid", uid);
  napi_set_named_property(env, result, "gid", gid);
  return result;
}

NAPI_MODULE_INIT() {
  napi_value function;
  napi_create_function(env, "peerCredentials", NAPI_AUTO_LENGTH, peer_credentials, NULL, &function);
  napi_set_named_property(env, exports, "peerCredentials", function);
  return exports;
}
