using PgBackupTools.Core.Postgres;
using PgBackupTools.Core.Storage;

namespace PgBackupTools.Core.Verify;

/// <summary>
/// What makes a restored copy a private scratch server for Test-PgBackup -Restore: no TCP port, only a Unix socket in
/// its own directory (mode 0700, so only root and the server's user get in), and a pg_hba.conf of its own that trusts
/// those local connections. The backed-up server's authentication (passwords, peer, certificates) and network settings
/// play no part, and no other user of the host can reach the copy of the data: these settings go into
/// postgresql.auto.conf, which wins over postgresql.conf and everything it includes. A backup that carries its
/// server's configuration from outside the data directory (Debian and Ubuntu keep it in
/// /etc/postgresql/&lt;version&gt;/&lt;cluster&gt;) runs with that, as restored by <see cref="Restore.RestoredConfiguration"/>;
/// one without any postgresql.conf gets an empty one, with the limits pg_control records, which recovery needs at least.
/// </summary>
internal static class ScratchServer
{
    private const string HbaFile = "pgbt_test_hba.conf", IdentFile = "pgbt_test_ident.conf", ConfigFile = "postgresql.conf";

    /// <summary>The socket's port: any number does, the directory is the server's alone.</summary>
    public const int Port = 5432;

    /// <summary>Settings for postgresql.auto.conf, which wins over the backed-up server's postgresql.conf.</summary>
    public static Dictionary<string, string> Settings(string scratch) => new()
    {
        ["archive_mode"] = "off",
        ["listen_addresses"] = "",
        ["unix_socket_directories"] = scratch,
        ["hba_file"] = Path.Combine(scratch, HbaFile),
        ["ident_file"] = Path.Combine(scratch, IdentFile),
        ["ssl"] = "off",
        // The backed-up server's pid file and log directory (Debian: /var/run/postgresql/15-main.pid) are not the copy's.
        ["external_pid_file"] = "",
        ["logging_collector"] = "off",
        // Test-PgBackup usually runs on the live server's host: a carried postgresql.conf must not make the scratch copy
        // claim the production shared_buffers a second time, or fail on huge pages reserved for the live server.
        ["shared_buffers"] = "128MB",
        ["huge_pages"] = "try",
    };

    /// <summary>
    /// Writes the scratch server's own files into the restored directory (after pg_verifybackup has checked it against
    /// the backup's manifest, before the server starts) and gives them to <paramref name="owner"/> when running as root.
    /// </summary>
    /// <param name="restoredConfiguration">The files <see cref="Restore.RestoredConfiguration"/> wrote from the backup (none: it carries no external configuration).</param>
    public static void Prepare(string scratch, string? owner, IReadOnlyList<string> restoredConfiguration, OperationContext context)
    {
        List<string> written = [Path.Combine(scratch, HbaFile), Path.Combine(scratch, IdentFile), .. restoredConfiguration];
        if (restoredConfiguration.Count > 0)
            context.Log($"The scratch server runs with the backed-up server's configuration as the backup carries it ({string.Join(", ", restoredConfiguration)}), its own socket, pg_hba.conf and no TCP port overriding it.");
        File.WriteAllText(written[0], "# Test-PgBackup's scratch server: reachable only through the socket in its own directory.\nlocal all all trust\n");
        File.WriteAllText(written[1], "");
        string config = Path.Combine(scratch, ConfigFile);
        if (!File.Exists(config))
        {
            var limits = RecoveryLimits(scratch);
            File.WriteAllText(config, "# Written by Test-PgBackup: the backed-up server keeps its configuration outside its data directory.\n" +
                string.Concat(limits.Select(l => $"{l.Key} = {l.Value}\n")));
            written.Add(config);
            context.Log($"The backup has no {ConfigFile} (its server keeps the configuration elsewhere, as Debian and Ubuntu do): the scratch server runs on defaults and the limits pg_control records ({string.Join(", ", limits.Select(l => $"{l.Key} {l.Value}"))}).");
        }
        if (UnixFileOwner.IsRoot) ProgramRunner.Run("chown", [$"{owner ?? "postgres"}:", .. written], TimeSpan.FromSeconds(30));
    }

    /// <summary>
    /// The settings recovery needs at least the backed-up server's values of (pg_control records them), which an empty
    /// postgresql.conf would leave at their defaults.
    /// </summary>
    private static IReadOnlyList<KeyValuePair<string, string>> RecoveryLimits(string dataDirectory)
    {
        var (_, output) = ProgramRunner.Run(PgClientTools.Find("pg_controldata"), [dataDirectory], TimeSpan.FromSeconds(30), new Dictionary<string, string> { ["LC_ALL"] = "C" });
        var settings = new[]
        {
            ("max_connections setting:", "max_connections"), ("max_worker_processes setting:", "max_worker_processes"),
            ("max_wal_senders setting:", "max_wal_senders"), ("max_prepared_xacts setting:", "max_prepared_transactions"),
            ("max_locks_per_xact setting:", "max_locks_per_transaction"),
        };
        var limits = new List<KeyValuePair<string, string>>();
        foreach (var line in output.Split('\n'))
            foreach (var (label, name) in settings)
                if (line.StartsWith(label, StringComparison.Ordinal) && line[label.Length..].Trim() is { Length: > 0 } value && value.All(char.IsAsciiDigit))
                    limits.Add(new(name, value));
        return limits;
    }
}
