using System.Text;
using PgBackupTools.Core.Restore;

namespace PgBackupTools.Core.Tests.Restore;

/// <summary>
/// Where the configuration a backup carries lands in a restored data directory, and how its lines are rewritten: the
/// cases a Debian cluster does not show (absolute includes elsewhere, a name that meets the data directory, an
/// include the backup does not carry, an hba_file kept in the data directory under another name).
/// </summary>
public sealed class RestoredConfigurationTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void Includes_point_at_the_restored_copies_and_settings_naming_the_original_cluster_are_commented_out()
    {
        string dataDir = Path.Combine(_temp.Path, "restored");
        Directory.CreateDirectory(Path.Combine(dataDir, "base")); // from the tar
        var (backup, contents) = Backup(
            ("/etc/pg/main/postgresql.conf", """
                data_directory = '/var/lib/pg/main'   # theirs
                HBA_FILE '/var/lib/pg/main/custom_hba.conf'
                ident_file = '/etc/pg/main/pg_ident.conf'
                external_pid_file = '/run/pg/main.pid'
                shared_buffers = 128MB
                include_dir 'conf.d'
                include '/etc/pg-common/common.conf'
                include = 'base/extra.conf'
                include_if_exists = '/etc/pg-common/absent.conf'
                # include 'commented.conf'
                """),
            ("/etc/pg/main/conf.d/a.conf", "work_mem = '8MB'\ninclude '../nested.conf'\n"),
            ("/etc/pg/main/nested.conf", "data_directory = '/elsewhere'\n"),
            ("/etc/pg-common/common.conf", "max_connections = 50\n"),
            ("/etc/pg/main/base/extra.conf", "# empty\n"),
            ("/etc/pg/main/pg_ident.conf", "map a b\n"));
        var log = new List<string>();

        var written = RestoredConfiguration.Write(backup, contents, dataDir, new OperationContext { Warning = log.Add });

        string conf = File.ReadAllText(Path.Combine(dataDir, "postgresql.conf"));
        string[] active = conf.Split('\n').Where(l => l.Length > 0 && !l.TrimStart().StartsWith('#')).ToArray();
        Assert.Equal(new[]
        {
            "shared_buffers = 128MB",
            "include_dir = 'conf.d'",
            "include = 'pgbt-config/etc/pg-common/common.conf'",
            "include = 'pgbt-config/etc/pg/main/base/extra.conf'", // base/ is the data directory's own
            "include_if_exists = '/etc/pg-common/absent.conf'",  // not carried: named where it was
            $"hba_file = '{dataDir}/custom_hba.conf'   # added by PgBackupTools", // restored from the tar under its own name
        }, active);
        Assert.Contains("# data_directory = '/var/lib/pg/main'   # theirs   # commented out by PgBackupTools", conf);
        Assert.Contains("# include '/etc/pg-common/common.conf'   # original", conf);
        Assert.Equal("work_mem = '8MB'\n# include '../nested.conf'   # original, rewritten by PgBackupTools for the restored copy:\ninclude = '../nested.conf'\n",
            File.ReadAllText(Path.Combine(dataDir, "conf.d", "a.conf")));
        Assert.StartsWith("# data_directory = '/elsewhere'", File.ReadAllText(Path.Combine(dataDir, "nested.conf")));
        Assert.Equal("max_connections = 50\n", File.ReadAllText(Path.Combine(dataDir, "pgbt-config", "etc", "pg-common", "common.conf")));
        Assert.Equal("map a b\n", File.ReadAllText(Path.Combine(dataDir, "pg_ident.conf")));
        Assert.False(File.Exists(Path.Combine(dataDir, "base", "extra.conf")), "a carried file must never be written into a directory of the data directory");
        Assert.Contains(Path.Combine(dataDir, "conf.d"), written);
        Assert.Contains(Path.Combine(dataDir, "pgbt-config", "etc"), written); // given to the server's user with the files
        Assert.Empty(log);
        if (!OperatingSystem.IsWindows())
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(dataDir, "pg_ident.conf")));
    }

    [Fact]
    public void A_backup_without_an_external_postgresql_conf_writes_nothing()
    {
        string dataDir = Path.Combine(_temp.Path, "restored");
        Directory.CreateDirectory(dataDir);
        var (backup, _) = Backup(("/var/lib/pg/main/postgresql.conf", "x = 1\n"));
        backup.Configuration!.Files.Clear(); // in the data directory: in the tar, not carried apart

        Assert.Empty(RestoredConfiguration.Write(backup, new Dictionary<string, byte[]>(), dataDir, OperationContext.None));
        Assert.Empty(Directory.EnumerateFileSystemEntries(dataDir));
    }

    [Fact]
    public void An_hba_file_the_backup_could_not_carry_stays_named_where_it_was_with_a_warning()
    {
        string dataDir = Path.Combine(_temp.Path, "restored");
        Directory.CreateDirectory(dataDir);
        var (backup, contents) = Backup(("/etc/pg/main/postgresql.conf", "hba_file = '/etc/pg/main/pg_hba.conf'\n"));
        backup.Configuration!.HbaFile = "/etc/pg/main/pg_hba.conf";
        backup.Configuration.Files.Add(new PgBackupConfigurationFile { Path = "/etc/pg/main/pg_hba.conf", NotCaptured = "permission denied" });
        var warnings = new List<string>();

        RestoredConfiguration.Write(backup, contents, dataDir, new OperationContext { Warning = warnings.Add });

        Assert.Contains("hba_file = '/etc/pg/main/pg_hba.conf'   # added by PgBackupTools", File.ReadAllText(Path.Combine(dataDir, "postgresql.conf")));
        Assert.Contains(warnings, w => w.Contains("/etc/pg/main/pg_hba.conf", StringComparison.Ordinal));
    }

    [Fact]
    public void A_manifest_path_that_would_land_outside_the_data_directory_is_refused()
    {
        string dataDir = Path.Combine(_temp.Path, "restored");
        Directory.CreateDirectory(dataDir);
        var (backup, contents) = Backup(("/etc/pg/main/postgresql.conf", "include '../../../../x.conf'\n"), ("/etc/pg/main/../../../../x.conf", "x = 1\n"));

        var e = Assert.Throws<Errors.PgBackupException>(() => RestoredConfiguration.Write(backup, contents, dataDir, OperationContext.None));

        Assert.Contains("outside the data directory", e.Message);
        Assert.False(File.Exists(Path.Combine(_temp.Path, "x.conf")));
        Assert.Empty(Directory.EnumerateFileSystemEntries(dataDir));
    }

    /// <summary>A backup of a server at /var/lib/pg/main whose config_file is the first file, all files carried; and their contents as read back.</summary>
    private static (PgBackup Backup, Dictionary<string, byte[]> Contents) Backup(params (string Path, string Text)[] files)
    {
        var backup = new PgBackup
        {
            Id = "20261125T000000Z-000000",
            Configuration = new PgBackupConfiguration
            {
                DataDirectory = "/var/lib/pg/main", ConfigFile = files[0].Path, HbaFile = "/var/lib/pg/main/custom_hba.conf",
                IdentFile = files.Select(f => f.Path).FirstOrDefault(p => p.EndsWith("pg_ident.conf", StringComparison.Ordinal)) ?? "/var/lib/pg/main/pg_ident.conf",
                Files = files.Select(f => new PgBackupConfigurationFile { Path = f.Path, BackupFile = "config" + f.Path }).ToList(),
            },
        };
        return (backup, files.ToDictionary(f => f.Path, f => Encoding.UTF8.GetBytes(f.Text.Replace("\r\n", "\n"))));
    }
}
