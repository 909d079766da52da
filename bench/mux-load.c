/*
 * mux-load: the load benchmark's client, written the way libsasl2 talks to
 * saslauthd (lib/checkpw.c): one blocking thread per client, and per login a
 * new UNIX socket, connect, one write of the request, a read of the 2-byte
 * length and the reply, close. On a 2-core machine a generator written in
 * Node spends about 60 us of CPU per login, taken from the daemon it is
 * measuring; this one spends a fraction of that.
 *
 * Closed loop: each thread sends its next request when the previous answer
 * has come. Every answer is checked (OK for a wrong password or NO for a
 * right one is counted as a wrong answer); a close without a whole reply, an
 * error or a timeout counts as no reply. Prints one JSON object on stdout.
 *
 * Open loop (RATE > 0): logins are due at Poisson arrival times of that mean
 * rate, whatever the answers do; each thread takes the next due login, waits
 * for its time, asks, and the latency is counted from when it was due, so a
 * daemon that falls behind shows its queue (no coordinated omission). The
 * threads are the MTA's processes (Postfix starts up to 100 smtpd): when all
 * are busy, the next login starts late, and that wait is in its latency and
 * in "late" (started more than 5 ms after it was due).
 *
 * usage: mux-load SOCKET CLIENTS DURATION_MS WRONG_SHARE HOT_SET TIMEOUT_MS SERVICE REALM [WRONG_PASSWORDS [RATE]] < users
 *   users: one "login<TAB>password" per line; HOT_SET 0 means all of them.
 *   WRONG_PASSWORDS: repeat (the default: each user's wrong password is always the same one, as
 *   a phone with an old password sends it) or distinct (a new one every time, as a guesser does).
 *   RATE: logins per second for the open loop; 0 or absent: closed loop.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* saslauthd's own limit on one field; longer lines in the users file are refused. */
#define MAX_FIELD 256
#define MAX_FRAME (4 * (2 + MAX_FIELD))

typedef struct {
  char login[MAX_FIELD + 1];
  char password[MAX_FIELD + 1];
  unsigned char right[MAX_FRAME];
  size_t right_len;
  unsigned char wrong[MAX_FRAME];
  size_t wrong_len;
} frames_t;

typedef struct {
  /* Inputs. */
  int index;
  /* Outputs: latencies in microseconds. */
  double *latencies;
  size_t count;
  size_t capacity;
  long wrong_answers;
  long no_reply;
  long late;
} worker_t;

static struct sockaddr_un address;
static frames_t *frames;
static size_t frame_count;
static double wrong_share;
static int distinct_wrong;
static const char *service_name, *realm_name;
static double deadline;
static struct timeval io_timeout;

/* The open loop's schedule: the next login's due time, shared by the threads. */
static double open_rate;
static double next_due;
static uint64_t schedule_random;
static pthread_mutex_t schedule_lock = PTHREAD_MUTEX_INITIALIZER;

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* xorshift64*: a private generator per thread, no locks. */
static uint64_t next_random(uint64_t *state) {
  uint64_t x = *state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *state = x;
  return x * 0x2545F4914F6CDD1DULL;
}

static int put_field(unsigned char *frame, size_t *len, const char *value, size_t value_len) {
  if (value_len > MAX_FIELD) return -1;
  frame[(*len)++] = (unsigned char)(value_len >> 8);
  frame[(*len)++] = (unsigned char)(value_len & 0xff);
  memcpy(frame + *len, value, value_len);
  *len += value_len;
  return 0;
}

static int build_frame(unsigned char *frame, size_t *len, const char *login, const char *password, const char *service, const char *realm) {
  *len = 0;
  if (put_field(frame, len, login, strlen(login)) || put_field(frame, len, password, strlen(password)) ||
      put_field(frame, len, service, strlen(service)) || put_field(frame, len, realm, strlen(realm)))
    return -1;
  return 0;
}

static int read_exactly(int fd, unsigned char *buffer, size_t want) {
  size_t got = 0;
  while (got < want) {
    ssize_t n = read(fd, buffer + got, want - got);
    if (n > 0) got += (size_t)n;
    else if (n < 0 && errno == EINTR) continue;
    else return -1;
  }
  return 0;
}

/* One login the way libsasl2 does it. Returns 1 for OK, 0 for any other reply, -1 for no reply. */
static int ask(const unsigned char *frame, size_t len) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &io_timeout, sizeof io_timeout);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &io_timeout, sizeof io_timeout);
  int answer = -1;
  if (connect(fd, (struct sockaddr *)&address, sizeof address) == 0) {
    size_t sent = 0;
    while (sent < len) {
      ssize_t n = write(fd, frame + sent, len - sent);
      if (n > 0) sent += (size_t)n;
      else if (n < 0 && errno == EINTR) continue;
      else break;
    }
    unsigned char header[2];
    unsigned char reply[1024];
    if (sent == len && read_exactly(fd, header, 2) == 0) {
      size_t reply_len = ((size_t)header[0] << 8) | header[1];
      if (reply_len <= sizeof reply && read_exactly(fd, reply, reply_len) == 0)
        answer = reply_len >= 2 && reply[0] == 'O' && reply[1] == 'K';
    }
  }
  close(fd);
  return answer;
}

/* The open loop: the next login's due time, and the one after it drawn (exponential gaps). */
static double take_due(void) {
  pthread_mutex_lock(&schedule_lock);
  double due = next_due;
  double uniform = (double)(next_random(&schedule_random) >> 11) / 9007199254740992.0;
  next_due += -log(1.0 - uniform) * 1e6 / open_rate;
  pthread_mutex_unlock(&schedule_lock);
  return due;
}

static void sleep_until(double when_us) {
  struct timespec at = {.tv_sec = (time_t)(when_us / 1e6), .tv_nsec = (long)(fmod(when_us, 1e6) * 1e3)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL) == EINTR) {
  }
}

static void *run_client(void *arg) {
  worker_t *worker = arg;
  unsigned char fresh[MAX_FRAME];
  uint64_t state = ((uint64_t)now_us() * 2654435761ULL) ^ ((uint64_t)(worker->index + 1) << 32) ^ 0x9E3779B97F4A7C15ULL;
  for (;;) {
    double due = 0;
    if (open_rate > 0) {
      due = take_due();
      if (due >= deadline) break;
      sleep_until(due);
      if (now_us() - due > 5000) worker->late += 1;
    } else if (now_us() >= deadline) {
      break;
    }
    const frames_t *pick = &frames[next_random(&state) % frame_count];
    int wrong = (double)(next_random(&state) >> 11) / 9007199254740992.0 < wrong_share;
    /* Open loop: from when it was due, however late the thread got to it. */
    double started = open_rate > 0 ? due : now_us();
    const unsigned char *frame = wrong ? pick->wrong : pick->right;
    size_t frame_len = wrong ? pick->wrong_len : pick->right_len;
    if (wrong && distinct_wrong) {
      /* A password never sent before: thread index and a per-thread count make it unique. */
      char guess[MAX_FIELD + 1];
      snprintf(guess, sizeof guess, "%s-wrong-%d-%zu", pick->password, worker->index, worker->count);
      if (build_frame(fresh, &frame_len, pick->login, guess, service_name, realm_name)) {
        fprintf(stderr, "mux-load: a distinct wrong password for %s is longer than %d bytes\n", pick->login, MAX_FIELD);
        exit(2);
      }
      frame = fresh;
    }
    int answer = ask(frame, frame_len);
    double took = now_us() - started;
    if (worker->count == worker->capacity) {
      worker->capacity = worker->capacity ? worker->capacity * 2 : 4096;
      double *grown = realloc(worker->latencies, worker->capacity * sizeof *grown);
      if (!grown) {
        fprintf(stderr, "mux-load: out of memory\n");
        exit(2);
      }
      worker->latencies = grown;
    }
    worker->latencies[worker->count++] = took;
    if (answer < 0) worker->no_reply += 1;
    else if (answer == wrong) worker->wrong_answers += 1;
  }
  return NULL;
}

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double percentile(const double *sorted, size_t count, double p) {
  if (count == 0) return 0;
  size_t at = (size_t)((double)count * p / 100.0);
  return sorted[at < count ? at : count - 1];
}

static double cpu_us(void) {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return (double)(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1e6 + (double)(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
}

int main(int argc, char **argv) {
  if (argc < 9 || argc > 11) {
    fprintf(stderr, "usage: mux-load SOCKET CLIENTS DURATION_MS WRONG_SHARE HOT_SET TIMEOUT_MS SERVICE REALM [repeat|distinct [RATE]] < users\n");
    return 2;
  }
  if (argc == 11) open_rate = atof(argv[10]);
  if (open_rate < 0) {
    fprintf(stderr, "mux-load: RATE is logins per second, 0 for a closed loop\n");
    return 2;
  }
  const char *socket_path = argv[1];
  int clients = atoi(argv[2]);
  double duration_ms = atof(argv[3]);
  wrong_share = atof(argv[4]);
  long hot_set = atol(argv[5]);
  long timeout_ms = atol(argv[6]);
  const char *service = argv[7], *realm = argv[8];
  service_name = service;
  realm_name = realm;
  if (argc >= 10 && strcmp(argv[9], "distinct") == 0) distinct_wrong = 1;
  else if (argc >= 10 && strcmp(argv[9], "repeat") != 0) {
    fprintf(stderr, "mux-load: WRONG_PASSWORDS is repeat or distinct, not %s\n", argv[9]);
    return 2;
  }
  if (clients < 1 || clients > 4096 || duration_ms <= 0 || timeout_ms < 1 || strlen(socket_path) >= sizeof address.sun_path) {
    fprintf(stderr, "mux-load: bad arguments\n");
    return 2;
  }
  address.sun_family = AF_UNIX;
  strcpy(address.sun_path, socket_path);
  io_timeout.tv_sec = timeout_ms / 1000;
  io_timeout.tv_usec = (timeout_ms % 1000) * 1000;

  size_t capacity = 0;
  char line[2 * MAX_FIELD + 8];
  while (fgets(line, sizeof line, stdin)) {
    line[strcspn(line, "\n")] = '\0';
    char *tab = strchr(line, '\t');
    if (!tab) continue;
    *tab = '\0';
    if (frame_count == capacity) {
      capacity = capacity ? capacity * 2 : 1024;
      frames = realloc(frames, capacity * sizeof *frames);
      if (!frames) return 2;
    }
    char wrong_password[MAX_FIELD + 8];
    snprintf(wrong_password, sizeof wrong_password, "%s-wrong", tab + 1);
    frames_t *f = &frames[frame_count];
    if (strlen(line) > MAX_FIELD || strlen(tab + 1) > MAX_FIELD) {
      fprintf(stderr, "mux-load: a user line is longer than %d bytes per field\n", MAX_FIELD);
      return 2;
    }
    strcpy(f->login, line);
    strcpy(f->password, tab + 1);
    if (build_frame(f->right, &f->right_len, line, tab + 1, service, realm) || build_frame(f->wrong, &f->wrong_len, line, wrong_password, service, realm)) {
      fprintf(stderr, "mux-load: a user line is longer than %d bytes per field\n", MAX_FIELD);
      return 2;
    }
    frame_count += 1;
  }
  if (hot_set > 0 && (size_t)hot_set < frame_count) frame_count = (size_t)hot_set;
  if (frame_count == 0) {
    fprintf(stderr, "mux-load: no users on stdin\n");
    return 2;
  }

  worker_t *workers = calloc((size_t)clients, sizeof *workers);
  pthread_t *threads = calloc((size_t)clients, sizeof *threads);
  if (!workers || !threads) return 2;
  double cpu_before = cpu_us();
  double started = now_us();
  deadline = started + duration_ms * 1000.0;
  next_due = started;
  schedule_random = ((uint64_t)started * 2654435761ULL) ^ 0xD1B54A32D192ED03ULL;
  for (int i = 0; i < clients; i += 1) {
    workers[i].index = i;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    if (pthread_create(&threads[i], &attr, run_client, &workers[i]) != 0) {
      fprintf(stderr, "mux-load: cannot start thread %d\n", i);
      return 2;
    }
    pthread_attr_destroy(&attr);
  }
  for (int i = 0; i < clients; i += 1) pthread_join(threads[i], NULL);
  double elapsed_us = now_us() - started;
  double cpu = cpu_us() - cpu_before;

  size_t total = 0;
  long wrong_answers = 0, no_reply = 0, late = 0;
  for (int i = 0; i < clients; i += 1) {
    total += workers[i].count;
    wrong_answers += workers[i].wrong_answers;
    no_reply += workers[i].no_reply;
    late += workers[i].late;
  }
  double *all = malloc((total ? total : 1) * sizeof *all);
  if (!all) return 2;
  size_t at = 0;
  for (int i = 0; i < clients; i += 1) {
    memcpy(all + at, workers[i].latencies, workers[i].count * sizeof *all);
    at += workers[i].count;
  }
  qsort(all, total, sizeof *all, by_value);
  printf("{\"requests\":%zu,\"elapsedMs\":%.3f,\"p50Ms\":%.4f,\"p99Ms\":%.4f,\"p999Ms\":%.4f,\"maxMs\":%.4f,\"wrongAnswers\":%ld,\"noReply\":%ld,\"late\":%ld,\"cpuPercent\":%.2f}\n",
         total, elapsed_us / 1000.0, percentile(all, total, 50) / 1000.0, percentile(all, total, 99) / 1000.0, percentile(all, total, 99.9) / 1000.0,
         total ? all[total - 1] / 1000.0 : 0, wrong_answers, no_reply, late, cpu / elapsed_us * 100.0);
  return 0;
}
