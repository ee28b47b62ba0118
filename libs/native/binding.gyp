{
  "targets": [
    {
      "target_name": "scan_dir",
      "sources": ["src/scan_dir.c"],
      "cflags": ["-O2", "-ffp-contract=off", "-Wall"],
      "libraries": ["-lm", "-lpthread"]
    },
    {
      "target_name": "copy_files",
      "sources": ["src/copy_files.c"],
      "cflags": ["-O2", "-Wall"]
    }
  ]
}
