{
  "targets": [
    {
      "target_name": "scan_dir",
      "sources": ["src/scan_dir.c"],
      "cflags": ["-O2", "-ffp-contract=off", "-Wall"],
      "libraries": ["-lm", "-lpthread"]
    },
    {
      "target_name": "file_ops",
      "sources": ["src/file_ops.c"],
      "cflags": ["-O2", "-ffp-contract=off", "-Wall"]
    }
  ]
}
