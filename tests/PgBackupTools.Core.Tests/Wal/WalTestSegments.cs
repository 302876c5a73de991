using System.Diagnostics;
using PgBackupTools.Core.Repository;
using PgBackupTools.TestKit;

namespace PgBackupTools.Core.Tests.Wal;

/// <summary>Real WAL segments, copied out of a running cluster's pg_wal once they are complete.</summary>
internal static class WalTestSegments
{
    /// <summary>Writes some WAL, switches to a new segment, and copies the completed ones into <paramref name="directory"/>.</summary>
    public static List<string> CopyCompleted(PgTestCluster cluster, string directory, int count)
    {
        var paths = new List<string>();
        cluster.Psql("CREATE TABLE IF NOT EXISTS wal_gen(x int, t text)");
        for (int i = 0; i < count; i++)
        {
            string name = cluster.Psql("INSERT INTO wal_gen SELECT g, md5(g::text) FROM generate_series(1, 2000) g; SELECT pg_walfile_name(pg_current_wal_lsn())");
            cluster.Psql("SELECT pg_switch_wal()");
            string target = Path.Combine(directory, name);
            File.Copy(Path.Combine(cluster.DataDirectory, "pg_wal", name), target, overwrite: true);
            paths.Add(target);
        }
        return paths;
    }

    public static async Task<BackupRepository> NewRepositoryAsync(string path) =>
        await BackupRepository.OpenAsync(path, create: true, CancellationToken.None);

    public static string EntryPoint
    {
        get
        {
            var env = Environment.GetEnvironmentVariable("PGBT_WAL_ENTRYPOINT");
            if (!string.IsNullOrEmpty(env)) return env;
            return Path.Combine(AppContext.BaseDirectory, "pgbt-wal");
        }
    }

    public static (int Code, string Stderr) RunEntryPoint(params string[] args) => RunEntryPointWith(null, args);

    /// <summary>Runs pgbt-wal in <paramref name="workingDirectory"/>, as PostgreSQL runs restore_command in its data directory.</summary>
    public static (int Code, string Stderr) RunEntryPointIn(string workingDirectory, params string[] args) => RunEntryPointWith(null, args, workingDirectory);

    /// <summary>Runs pgbt-wal with PGBACKUPTOOLS_PASSPHRASE set to <paramref name="passphraseVariable"/>, or unset when null.</summary>
    public static (int Code, string Stderr) RunEntryPointWith(string? passphraseVariable, params string[] args) => RunEntryPointWith(passphraseVariable, args, null);

    private static (int Code, string Stderr) RunEntryPointWith(string? passphraseVariable, string[] args, string? workingDirectory)
    {
        var psi = new ProcessStartInfo(EntryPoint) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false, WorkingDirectory = workingDirectory ?? "" };
        psi.Environment.Remove(RepositoryPassphrase.DefaultVariable);
        if (passphraseVariable is not null) psi.Environment[RepositoryPassphrase.DefaultVariable] = passphraseVariable;
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        string stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stderr);
    }
}
