/*
 * crypt(3) verification through libxcrypt, the library behind glibc's crypt
 * and so behind pam_mysql's crypt=1: the same results as the chain this
 * daemon replaces, at C speed, off the event loop.
 *
 * verify(password: Buffer, stored: string) => Promise<boolean | null>
 * verifySync(password: Buffer, stored: string) => boolean | null
 *   true/false: the password does or does not produce the stored value;
 *   null: libxcrypt cannot use the stored value (unknown method, damaged),
 *         and the caller decides what that means.
 *
 * verify() runs on libuv's thread pool: no JavaScript runs there, so a
 * check costs the hash and two thread hand-offs, nothing more. The caller
 * bounds how many are in flight. verifySync() runs on the calling thread,
 * for checks that cost less than a hand-off (md5crypt is about 90 us; a
 * hand-off measured about 60 us of CPU on a 2-core VM). Either way the
 * password is copied into the task and wiped, with libxcrypt's scratch
 * space, before the task is freed.
 */
#include <crypt.h>
#include <node_api.h>
#include <stdlib.h>
#include <string.h>

/* Longest stored value accepted: libxcrypt's own output bound. */
#define STORED_MAX CRYPT_OUTPUT_SIZE

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  /* 1 match, 0 no match, -1 stored value unusable. */
  int result;
  char password[CRYPT_MAX_PASSPHRASE_SIZE];
  char stored[STORED_MAX];
  struct crypt_data scratch;
} VerifyTask;

static void wipe_and_free(VerifyTask *task) {
  explicit_bzero(task, sizeof *task);
  free(task);
}

/* Equal-length comparison whose time does not depend on where bytes differ. */
static int same_bytes(const char *a, const char *b, size_t length) {
  unsigned char difference = 0;
  for (size_t i = 0; i < length; i++) difference |= (unsigned char)a[i] ^ (unsigned char)b[i];
  return difference == 0;
}

/* The check itself: on a pool thread for verify(), on the calling thread for verifySync(). */
static void run_on_pool_thread(napi_env env, void *data) {
  (void)env;
  VerifyTask *task = data;
  const char *computed = crypt_rn(task->password, task->stored, &task->scratch, sizeof task->scratch);
  if (computed == NULL || computed[0] == '*') {
    task->result = -1;
    return;
  }
  size_t computed_length = strlen(computed);
  size_t stored_length = strlen(task->stored);
  task->result = computed_length == stored_length && same_bytes(computed, task->stored, stored_length);
}

static napi_value verdict_value(napi_env env, int result) {
  napi_value value;
  if (result < 0) napi_get_null(env, &value);
  else napi_get_boolean(env, result == 1, &value);
  return value;
}

static void finish_on_main_thread(napi_env env, napi_status status, void *data) {
  VerifyTask *task = data;
  napi_value value;
  if (status != napi_ok) {
    napi_value message;
    napi_create_string_utf8(env, "crypt verification was cancelled", NAPI_AUTO_LENGTH, &message);
    napi_create_error(env, NULL, message, &value);
    napi_reject_deferred(env, task->deferred, value);
  } else {
    napi_resolve_deferred(env, task->deferred, verdict_value(env, task->result));
  }
  napi_delete_async_work(env, task->work);
  wipe_and_free(task);
}

/* Throws a TypeError; returns NULL for the caller to pass on, whatever pointer type it returns. */
static void *fail(napi_env env, const char *message) {
  napi_throw_type_error(env, NULL, message);
  return NULL;
}

/* Checks and copies (password, stored) into a new task; NULL with a JavaScript exception pending when they are unusable. */
static VerifyTask *task_from_arguments(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 2) return fail(env, "verify(password, stored) takes two arguments");

  bool is_buffer = false;
  napi_is_buffer(env, argv[0], &is_buffer);
  if (!is_buffer) return fail(env, "password must be a Buffer");
  void *password_bytes;
  size_t password_length;
  napi_get_buffer_info(env, argv[0], &password_bytes, &password_length);
  /* crypt(3) reads a C string: a NUL inside would cut the password short, so such a password is not ours to check. */
  /* An empty Buffer may have no data pointer at all: memchr and memcpy must not see it. */
  if (password_length >= CRYPT_MAX_PASSPHRASE_SIZE || (password_length > 0 && memchr(password_bytes, 0, password_length) != NULL)) return fail(env, "password is too long or holds a NUL byte");

  napi_valuetype type;
  napi_typeof(env, argv[1], &type);
  if (type != napi_string) return fail(env, "stored must be a string");

  VerifyTask *task = calloc(1, sizeof *task);
  if (task == NULL) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  size_t stored_length;
  if (napi_get_value_string_latin1(env, argv[1], task->stored, sizeof task->stored, &stored_length) != napi_ok || stored_length >= sizeof task->stored - 1) {
    wipe_and_free(task);
    return fail(env, "stored value is too long");
  }
  if (password_length > 0) memcpy(task->password, password_bytes, password_length);
  return task;
}

/* verify(password, stored): on libuv's pool, resolves to true, false or null. */
static napi_value verify(napi_env env, napi_callback_info info) {
  VerifyTask *task = task_from_arguments(env, info);
  if (task == NULL) return NULL;
  napi_value promise, name;
  napi_create_string_utf8(env, "saslauthd-mysql:crypt", NAPI_AUTO_LENGTH, &name);
  if (napi_create_promise(env, &task->deferred, &promise) != napi_ok ||
      napi_create_async_work(env, NULL, name, run_on_pool_thread, finish_on_main_thread, task, &task->work) != napi_ok) {
    wipe_and_free(task);
    napi_throw_error(env, NULL, "could not queue the crypt verification");
    return NULL;
  }
  if (napi_queue_async_work(env, task->work) != napi_ok) {
    napi_delete_async_work(env, task->work);
    wipe_and_free(task);
    napi_throw_error(env, NULL, "could not queue the crypt verification");
    return NULL;
  }
  return promise;
}

/* verifySync(password, stored): the same check on the calling thread, for checks cheaper than a hand-off. */
static napi_value verify_sync(napi_env env, napi_callback_info info) {
  VerifyTask *task = task_from_arguments(env, info);
  if (task == NULL) return NULL;
  run_on_pool_thread(env, task);
  int result = task->result;
  wipe_and_free(task);
  return verdict_value(env, result);
}

NAPI_MODULE_INIT() {
  napi_value function;
  napi_create_function(env, "verify", NAPI_AUTO_LENGTH, verify, NULL, &function);
  napi_set_named_property(env, exports, "verify", function);
  napi_create_function(env, "verifySync", NAPI_AUTO_LENGTH, verify_sync, NULL, &function);
  napi_set_named_property(env, exports, "verifySync", function);
  return exports;
}
