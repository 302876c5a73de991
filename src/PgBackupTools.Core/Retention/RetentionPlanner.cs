namespace PgBackupTools.Core.Retention;

/// <summary>
/// Chooses which backups a policy removes. Backups are judged within their group (one database of a stanza for
/// logical backups, the stanza for physical and snapshot backups), newest first:
/// the newest always stays; the newest KeepLast stay; every backup inside the window stays, and so does the newest
/// one that started before it (without it the start of the window could not be restored, as pgBackRest and
/// Barman's recovery window keep it). Everything else goes.
/// </summary>
public static class RetentionPlanner
{
    public static string GroupOf(PgBackup backup) =>
        backup.Type == BackupType.Logical ? $"{backup.Stanza}/{backup.Type}/{backup.Database}" : $"{backup.Stanza}/{backup.Type}";

    public static IReadOnlyList<RetentionDecision> Plan(IEnumerable<PgBackup> backups, RetentionPolicy policy, DateTimeOffset now)
    {
        policy.Validate();
        var decisions = new List<RetentionDecision>();
        DateTimeOffset? windowStart = policy.RetentionDays is int days ? now.AddDays(-days) : null;
        foreach (var group in backups.GroupBy(GroupOf))
        {
            bool keptOneBeforeWindow = false;
            int rank = 0;
            foreach (var backup in group.OrderByDescending(b => b.StartTime).ThenByDescending(b => b.Id, StringComparer.Ordinal))
            {
                rank++;
                string? keepReason =
                    rank == 1 ? "the newest backup of its group" :
                    policy.KeepLast is int n && rank <= n ? $"among the newest {n}" :
                    windowStart is { } start && backup.StartTime >= start ? $"inside the {policy.RetentionDays}-day window" :
                    null;
                if (keepReason is null && windowStart is not null && !keptOneBeforeWindow)
                {
                    keptOneBeforeWindow = true;
                    keepReason = $"the newest before the {policy.RetentionDays}-day window, which it makes restorable from its start";
                }
                if (windowStart is { } w && backup.StartTime < w && keepReason is not null) keptOneBeforeWindow = true;
                decisions.Add(keepReason is null
                    ? new RetentionDecision(backup, false, windowStart is null ? $"beyond the newest {policy.KeepLast}" : $"older than the {policy.RetentionDays}-day window and not needed to restore it")
                    : new RetentionDecision(backup, true, keepReason));
            }
        }
        return decisions.OrderBy(d => d.Backup.StartTime).ThenBy(d => d.Backup.Id, StringComparer.Ordinal).ToList();
    }
}
