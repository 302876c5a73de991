using PgBackupTools.Core.Snapshots;

namespace PgBackupTools.Core.Tests.Snapshots;

public sealed class SnapshotRetentionTests
{
    private static readonly DateTimeOffset Now = new(2026, 6, 1, 0, 0, 0, TimeSpan.Zero);

    private static PgVolumeSnapshot Snap(string set, string volume, int daysAgo, bool completed = true) => new()
    {
        SnapshotId = $"snap-{set}-{volume}", VolumeId = volume, BackupId = set, StartTime = Now.AddDays(-daysAgo), Completed = completed,
    };

    [Fact]
    public void Sets_older_than_the_window_go_whole_and_the_rest_stay()
    {
        var plan = SnapshotRetention.Plan([Snap("old", "a", 200), Snap("old", "b", 200), Snap("mid", "a", 30), Snap("new", "a", 1), Snap("foreign", "a", 300)], 90, Now);
        Assert.Equal(["new", "mid", "old", "foreign"], plan.Select(d => d.BackupId));
        Assert.Equal([true, true, false, false], plan.Select(d => d.Keep));
        Assert.Equal(2, plan.Single(d => d.BackupId == "old").Snapshots.Count);
    }

    [Fact]
    public void The_newest_complete_set_is_kept_however_old()
    {
        var plan = SnapshotRetention.Plan([Snap("a", "v", 400), Snap("b", "v", 300), Snap("c", "v", 200, completed: false)], 90, Now);
        Assert.True(plan.Single(d => d.BackupId == "b").Keep);
        Assert.Contains("newest", plan.Single(d => d.BackupId == "b").Reason);
        Assert.True(plan.Single(d => d.BackupId == "c").Keep); // still completing
        Assert.False(plan.Single(d => d.BackupId == "a").Keep);
    }

    [Fact]
    public void Untagged_snapshots_are_never_planned()
    {
        Assert.Empty(SnapshotRetention.Plan([new PgVolumeSnapshot { SnapshotId = "snap-x", StartTime = Now.AddDays(-1000), Completed = true }], 90, Now));
    }
}
