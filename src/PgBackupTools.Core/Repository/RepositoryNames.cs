using System.Text.RegularExpressions;
using PgBackupTools.Core.Errors;

namespace PgBackupTools.Core.Repository;

/// <summary>Backup ids and stanza names become path segments, so they are checked before any path is built.</summary>
public static partial class RepositoryNames
{
    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")]
    private static partial Regex SafeName();

    public static string ValidateBackupId(string id) => SafeName().IsMatch(id) && !id.Contains("..")
        ? id
        : throw new PgBackupException(FailureKind.InvalidArgument,
            $"'{id}' is not a valid backup id: ids are letters, digits, '.', '_' and '-' (as Get-PgBackup lists them).", id);

    public static string ValidateStanza(string stanza) => SafeName().IsMatch(stanza) && !stanza.Contains("..")
        ? stanza
        : throw new PgBackupException(FailureKind.InvalidArgument,
            $"'{stanza}' is not a valid stanza name: use letters, digits, '.', '_' and '-'.", stanza);

    /// <summary>A new id that sorts by time and cannot collide with a concurrent backup: 20261124T203015Z-3fa2c1.</summary>
    public static string NewBackupId(DateTimeOffset now) =>
        now.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'") + "-" + Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(3)).ToLowerInvariant();
}
