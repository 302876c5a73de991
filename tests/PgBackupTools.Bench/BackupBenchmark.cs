using System.Diagnostics;
using PgBackupTools.Core.Backup;
using PgBackupTools.Core.Postgres;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Streams;

namespace PgBackupTools.Bench;

/// <summary>
/// A plain logical backup run in this process (no pwsh), once per compression, against a running server: wall
/// seconds and this process's CPU seconds (not pg_dump's, not the server's). Run each compression in a fresh
/// process to count what a backup pays for JIT; PGBACKUPTOOLS_ZSTD=managed measures the ZstdSharp port.
/// </summary>
internal static class BackupBenchmark
{
    public static int Run(string[] args)
    {
        // backup HOST PORT DATABASE REPOSITORY [none|gzip|zstd|lz4 ...]
        var server = new PgConnectionInfo { Host = args[0], Port = int.Parse(args[1]), Username = "postgres" };
        string database = args[2], root = args[3];
        var kinds = args.Length > 4 ? args[4..] : ["none", "zstd"];
        Console.Error.WriteLine($"# {Environment.ProcessorCount} cores, libzstd: {NativeZstd.Default?.Name ?? "none"}");
        Console.WriteLine("compression\tseconds\tcpu_seconds\tstored_bytes");
        foreach (var kind in kinds)
        {
            if (Directory.Exists(root))
                Directory.Delete(root, recursive: true);
            var compression = Enum.Parse<CompressionKind>(kind, ignoreCase: true);
            var process = Process.GetCurrentProcess();
            var cpu = process.TotalProcessorTime;
            var clock = Stopwatch.StartNew();
            var repository = BackupRepository.OpenAsync(root, create: true, default).GetAwaiter().GetResult();
            var backup = LogicalBackupJob.RunAsync(repository, server, new LogicalBackupOptions { Database = database, Compression = compression }, new())
                .GetAwaiter().GetResult();
            process.Refresh();
            Console.WriteLine($"{kind}\t{clock.Elapsed.TotalSeconds:F2}\t{(process.TotalProcessorTime - cpu).TotalSeconds:F2}\t{backup.Files.Sum(f => f.StoredBytes)}");
        }
        return 0;
    }
}
