{
  "targets": [
    {
      "target_name": "saslauthd_mysql_crypt",
      "sources": ["src/crypt_addon.c"],
      "libraries": ["-lcrypt"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-fstack-protector-strong"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"]
    },
    {
      "target_name": "saslauthd_mysql_notify",
      "sources": ["src/notify_addon.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-fstack-protector-strong"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"]
    },
    {
      "target_name": "saslauthd_mysql_listen",
      "sources": ["src/listen_addon.c", "src/listen_handles.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-fstack-protector-strong", "-fvisibility=hidden"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"]
    },
    {
      "target_name": "saslauthd_mysql_peer",
      "sources": ["src/peer_addon.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-fstack-protector-strong"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"]
    }
  ]
}
