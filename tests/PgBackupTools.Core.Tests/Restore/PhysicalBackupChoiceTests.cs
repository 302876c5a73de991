using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Restore;

namespace PgBackupTools.Core.Tests.Restore;

/// <summary>Restore-PgDatabase -DataDirectory without -Backup: the newest physical backup that is complete before the target.</summary>
public sealed class PhysicalBackupChoiceTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 24, 2, 0, 0, TimeSpan.Zero);

    private static PgBackup Physical(string id, int hour, string stopLsn, string stanza = "main") => new()
    {
        Id = id, Type = BackupType.Physical, Stanza = stanza, StartTime = T0.AddHours(hour), EndTime = T0.AddHours(hour).AddMinutes(10), StopLsn = stopLsn,
    };

    private static readonly PgBackup[] Backups =
    [
        Physical("a", 0, "0/3000100"),
        Physical("b", 24, "0/9000100"),
        Physical("c", 48, "1/2000100"),
        new PgBackup { Id = "logical", Type = BackupType.Logical, Stanza = "main", EndTime = T0.AddHours(72) },
        Physical("other-stanza", 60, "2/0", stanza: "other"),
    ];

    private static PhysicalRestoreOptions Options => new() { DataDirectory = "/x", WalEntryPoint = "/pgbt-wal" };

    [Fact]
    public void Without_a_target_the_newest_physical_backup_of_the_stanza_is_taken() =>
        Assert.Equal("c", PhysicalRestoreJob.ChooseBackup(Backups, Options, "main").Id);

    [Fact]
    public void A_time_target_takes_the_newest_backup_that_ended_at_or_before_it() =>
        Assert.Equal("b", PhysicalRestoreJob.ChooseBackup(Backups, Options with { TargetTime = T0.AddHours(47) }, "main").Id);

    [Fact]
    public void A_time_target_inside_a_backup_takes_the_one_before() =>
        Assert.Equal("a", PhysicalRestoreJob.ChooseBackup(Backups, Options with { TargetTime = T0.AddHours(24).AddMinutes(5) }, "main").Id);

    [Fact]
    public void An_LSN_target_compares_LSNs_as_numbers_not_text() =>
        Assert.Equal("b", PhysicalRestoreJob.ChooseBackup(Backups, Options with { TargetLsn = "0/F0000000" }, "main").Id);

    [Fact]
    public void A_target_before_every_backup_is_refused_with_what_to_do()
    {
        var e = Assert.Throws<PgBackupException>(() => PhysicalRestoreJob.ChooseBackup(Backups, Options with { TargetTime = T0.AddHours(-1) }, "main"));
        Assert.Contains("Invoke-PgBackup -Type Physical", e.Message);
    }

    [Fact]
    public void A_stanza_without_any_physical_backup_says_so_rather_than_naming_a_target()
    {
        var e = Assert.Throws<PgBackupException>(() => PhysicalRestoreJob.ChooseBackup(Backups.Where(b => b.Type != BackupType.Physical), Options, "main"));
        Assert.Equal(FailureKind.NotFound, e.Kind);
        Assert.StartsWith("Stanza 'main' holds no physical backup to restore. Invoke-PgBackup -Type Physical takes one", e.Message);
    }
}
