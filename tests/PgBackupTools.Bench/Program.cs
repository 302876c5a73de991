using PgBackupTools.Bench;

return args switch
{
    ["streams", .. var rest] when rest.Length > 0 => StreamsBenchmark.Run(rest),
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
          default: gzip gzip-fast zstd-1 zstd-3 lz4 none
        """);
    return 2;
}
