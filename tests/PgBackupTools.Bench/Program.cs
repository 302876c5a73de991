using PgBackupTools.Bench;

return args switch
{
    ["streams", .. var rest] when rest.Length > 0 => StreamsBenchmark.Run(rest),
    ["backup", .. var rest] when rest.Length >= 4 => BackupBenchmark.Run(rest),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("""
        usage: PgBackupTools.Bench streams <file|-> [codec...] [--repeat N]
          Pipes the file (or stdin, one codec) through each compressor into a null stream and prints one
          tab-separated line per codec: name, seconds, MB/s (input), output bytes, ratio.
          codecs: gzip (default level), gzip-fast (1), gzip-N, zstd-1, zstd-3, zstd-N (libzstd when installed),
          zstdsharp-N (the managed port), lz4, lz4-N, none; sha256 (a HashingStream, no compression);
          pipeline-CODEC: what a plain backup adds in process (row counting, SHA-256 before and after CODEC)
          cpu_seconds: the whole process's CPU time (all threads) during the run
        usage: PgBackupTools.Bench backup <host> <port> <database> <repository> [none|gzip|zstd|lz4 ...]
          Plain logical backups in this process, one per compression, with this process's CPU seconds
          (PGBACKUPTOOLS_ZSTD=managed: zstd through the ZstdSharp port)
          default: gzip gzip-fast zstd-1 zstd-3 lz4 none
        """);
    return 2;
}
