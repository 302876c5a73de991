using PgBackupTools.Core.Errors;

namespace PgBackupTools.Core.Retention;

/// <summary>How long and how many backups to keep. At least one of the two; the newest backup of a group always stays.</summary>
public sealed record RetentionPolicy
{
    /// <summary>Keep every backup that started within this many days, and the newest one before them, so the whole window stays restorable.</summary>
    public int? RetentionDays { get; init; }
    /// <summary>Keep at least this many newest backups per group, whatever their age.</summary>
    public int? KeepLast { get; init; }

    public void Validate()
    {
        if (RetentionDays is null && KeepLast is null)
            throw new PgBackupException(FailureKind.InvalidArgument, "Give -RetentionDays, -KeepLast or both: without a policy nothing can be chosen for removal.");
        if (RetentionDays is < 0) throw new PgBackupException(FailureKind.InvalidArgument, "-RetentionDays cannot be negative.", RetentionDays);
        if (KeepLast is < 1) throw new PgBackupException(FailureKind.InvalidArgument, "-KeepLast must be at least 1: the newest backup is never removed by a policy.", KeepLast);
    }
}

/// <summary>The verdict on one backup and why, so -WhatIf and -Verbose can say it.</summary>
public sealed record RetentionDecision(PgBackup Backup, bool Keep, string Reason);
