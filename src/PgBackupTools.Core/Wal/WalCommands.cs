using System.Text;

namespace PgBackupTools.Core.Wal;

/// <summary>
/// The archive_command and restore_command lines that run the pgbt-wal entry point. PostgreSQL runs them with
/// /bin/sh (Windows: cmd) after replacing %p/%f, so: every '%' of a path is doubled (or PostgreSQL would expand
/// it), and paths are single-quoted for the shell. %p and %f are never quoted: PostgreSQL makes them from file
/// names it controls (pg_wal/0000…), and quoting them would break on Windows.
/// </summary>
public static class WalCommands
{
    /// <summary>The file name of the entry point in the module's bin folder.</summary>
    public static string EntryPointFileName => OperatingSystem.IsWindows() ? "pgbt-wal.exe" : "pgbt-wal";

    /// <param name="passphraseFile">The key file of an encrypted repository (never the passphrase: the command line is public).</param>
    public static string ArchiveCommand(string entryPoint, string repository, string stanza, string? passphraseFile = null) =>
        $"{Quote(entryPoint)} push %p --repo {Quote(repository)}{StanzaOption(stanza)}{KeyFileOption(passphraseFile)}";

    public static string RestoreCommand(string entryPoint, string repository, string stanza, int? prefetch = null, string? passphraseFile = null) =>
        $"{Quote(entryPoint)} get %f %p --repo {Quote(repository)}{StanzaOption(stanza)}{(prefetch is { } p ? $" --prefetch {p}" : "")}{KeyFileOption(passphraseFile)}";

    private static string KeyFileOption(string? passphraseFile) => passphraseFile is null ? "" : " --passphrase-file " + Quote(passphraseFile);

    private static string StanzaOption(string stanza) => stanza == WalArchive.DefaultStanza ? "" : " --stanza " + Quote(stanza);

    /// <summary>Quotes one argument for the shell PostgreSQL uses, with '%' doubled for PostgreSQL's own substitution.</summary>
    public static string Quote(string value)
    {
        value = value.Replace("%", "%%", StringComparison.Ordinal);
        if (OperatingSystem.IsWindows()) return "\"" + value + "\"";
        var sb = new StringBuilder("'");
        foreach (char c in value) sb.Append(c == '\'' ? "'\\''" : c.ToString());
        return sb.Append('\'').ToString();
    }
}
