using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Retention;

namespace PgBackupTools.Core.Tests.Retention;

public class RetentionPlannerTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 24, 12, 0, 0, TimeSpan.Zero);

    private static PgBackup B(string id, double daysAgo, string db = "app", BackupType type = BackupType.Logical, string stanza = "main") => new()
    {
        Id = id, Type = type, Stanza = stanza, Database = type == BackupType.Logical ? db : null, StartTime = Now.AddDays(-daysAgo), EndTime = Now.AddDays(-daysAgo).AddMinutes(5),
    };

    private static List<PgBackup> Catalog() =>
    [
        B("app-1", 1), B("app-3", 3), B("app-10", 10), B("app-29", 29), B("app-31", 31), B("app-40", 40), B("app-60", 60),
        B("crm-45", 45, db: "crm"), B("crm-50", 50, db: "crm"),
        B("phys-2", 2, type: BackupType.Physical), B("phys-35", 35, type: BackupType.Physical), B("phys-70", 70, type: BackupType.Physical),
        B("other-stanza-80", 80, stanza: "replica"),
    ];

    private static IEnumerable<string> Removed(IReadOnlyList<RetentionDecision> plan) => plan.Where(d => !d.Keep).Select(d => d.Backup.Id).Order();

    [Fact]
    public void A_time_window_keeps_the_window_and_the_newest_backup_before_it_in_every_group()
    {
        var plan = RetentionPlanner.Plan(Catalog(), new RetentionPolicy { RetentionDays = 30 }, Now);
        // app: 31 is the newest before the window; crm: 45 is its newest, kept; physical: 35 covers the window start.
        Assert.Equal(["app-40", "app-60", "crm-50", "phys-70"], Removed(plan));
        Assert.Contains("newest before", plan.Single(d => d.Backup.Id == "app-31").Reason);
        Assert.Contains("newest backup", plan.Single(d => d.Backup.Id == "other-stanza-80").Reason);
    }

    [Fact]
    public void KeepLast_alone_keeps_that_many_newest_per_group()
    {
        var plan = RetentionPlanner.Plan(Catalog(), new RetentionPolicy { KeepLast = 2 }, Now);
        Assert.Equal(["app-10", "app-29", "app-31", "app-40", "app-60", "phys-70"], Removed(plan));
    }

    [Fact]
    public void A_minimum_redundancy_survives_a_time_policy()
    {
        var plan = RetentionPlanner.Plan(Catalog(), new RetentionPolicy { RetentionDays = 0, KeepLast = 3 }, Now);
        // With a zero-day window, three newest per group stay, and the newest before the window is one of them.
        Assert.Equal(["app-29", "app-31", "app-40", "app-60"], Removed(plan));
    }

    [Fact]
    public void The_newest_backup_of_a_group_always_stays_even_when_everything_is_old()
    {
        var plan = RetentionPlanner.Plan([B("a", 400), B("b", 500), B("c", 600)], new RetentionPolicy { RetentionDays = 7 }, Now);
        Assert.Equal(["b", "c"], Removed(plan));
    }

    [Fact]
    public void Without_a_policy_nothing_is_planned()
    {
        var e = Assert.Throws<PgBackupException>(() => RetentionPlanner.Plan(Catalog(), new RetentionPolicy(), Now));
        Assert.Equal(FailureKind.InvalidArgument, e.Kind);
    }
}
