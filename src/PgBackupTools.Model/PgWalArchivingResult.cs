namespace PgBackupTools;

/// <summary>One server setting Enable-PgWalArchiving looked at: its value before and the value it sets.</summary>
public sealed record PgSettingChange(string Name, string Before, string After)
{
    public bool Changed => !string.Equals(Before, After, StringComparison.Ordinal);
}

/// <summary>What Enable-PgWalArchiving did (or, with Applied false, would do) to a server.</summary>
public sealed class PgWalArchivingResult
{
    public string Server { get; set; } = "";
    public string Repository { get; set; } = "";
    public string Stanza { get; set; } = "";
    public string ArchiveCommand { get; set; } = "";
    /// <summary>The matching restore_command, for recovery (postgresql.conf of the restored cluster).</summary>
    public string RestoreCommand { get; set; } = "";
    public List<PgSettingChange> Settings { get; set; } = [];
    /// <summary>wal_level or archive_mode changed: they take effect only after a server restart.</summary>
    public bool RestartRequired { get; set; }
    /// <summary>False under -WhatIf, or when nothing had to change.</summary>
    public bool Applied { get; set; }
}
