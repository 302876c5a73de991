using PgBackupTools.Core.Postgres;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Streams.Encryption;

namespace PgBackupTools.Core.Backup;

/// <summary>The part of a backup's manifest every kind of backup fills the same way when it starts.</summary>
internal static class BackupRecord
{
    /// <param name="key">The repository key that will encrypt the backup's files; null: not encrypted.</param>
    public static PgBackup Start(BackupType type, string stanza, PgConnectionInfo server, ServerFacts facts, BackupRepository repository,
        EncryptionKey? key, IReadOnlyDictionary<string, string>? labels)
    {
        var start = DateTimeOffset.UtcNow;
        var backup = new PgBackup
        {
            Id = RepositoryNames.NewBackupId(start),
            Type = type,
            Stanza = stanza,
            Server = server.Server,
            ServerVersion = facts.Version.Split(' ').ElementAtOrDefault(1),
            ServerVersionNumber = facts.VersionNumber,
            SystemIdentifier = facts.SystemIdentifier,
            StartTime = start,
            Encryption = key is null ? null : repository.Encryption!.Cipher,
            EncryptionKeyId = key?.KeyId,
            ToolVersion = BackupRepository.ToolVersion,
        };
        foreach (var (k, v) in labels ?? new Dictionary<string, string>()) backup.Labels[k] = v;
        return backup;
    }
}
