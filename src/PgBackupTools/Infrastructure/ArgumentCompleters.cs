using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;
using PgBackupTools.Core;
using PgBackupTools.Core.Repository;

namespace PgBackupTools.Infrastructure;

/// <summary>Completes -Repository with the repositories used lately, then with directories.</summary>
public sealed class RepositoryCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        string word = Completion.Unquote(wordToComplete);
        var recent = RecentRepositories.Load().Where(r => r.StartsWith(word, StringComparison.OrdinalIgnoreCase));
        var directories = Enumerable.Empty<string>();
        try
        {
            string dir = Path.GetDirectoryName(word) is { Length: > 0 } d ? d : ".";
            if (Directory.Exists(dir))
                directories = Directory.EnumerateDirectories(dir, Path.GetFileName(word) + "*").Select(p => dir == "." && !word.StartsWith('.') ? Path.GetFileName(p) : p).Take(50);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException) { }
        return recent.Concat(directories).Distinct().Select(p => Completion.Result(p, "Repository"));
    }
}

/// <summary>Completes -Stanza with the stanzas of the -Repository already typed.</summary>
public sealed class StanzaCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters) =>
        Completion.Backups(fakeBoundParameters).Select(b => b.Stanza).Distinct()
            .Where(s => s.StartsWith(Completion.Unquote(wordToComplete), StringComparison.OrdinalIgnoreCase))
            .Select(s => Completion.Result(s, "Stanza"));
}

/// <summary>Completes -Database with the databases that have backups in the -Repository already typed.</summary>
public sealed class BackupDatabaseCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters) =>
        Completion.Backups(fakeBoundParameters).Select(b => b.Database).OfType<string>().Distinct().Order()
            .Where(d => d.StartsWith(Completion.Unquote(wordToComplete), StringComparison.OrdinalIgnoreCase))
            .Select(d => Completion.Result(d, "Database"));
}

/// <summary>Completes -Id with the backup ids in the -Repository already typed, newest first.</summary>
public sealed class BackupIdCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters) =>
        Completion.Backups(fakeBoundParameters).OrderByDescending(b => b.StartTime)
            .Where(b => b.Id.StartsWith(Completion.Unquote(wordToComplete), StringComparison.OrdinalIgnoreCase))
            .Select(b => new CompletionResult(b.Id, b.Id, CompletionResultType.ParameterValue, $"{b.Type} {b.Database ?? b.Stanza} {b.StartTime:u}"));
}

internal static class Completion
{
    public static string Unquote(string word) => word.Trim('\'', '"');

    public static CompletionResult Result(string value, string tooltip)
    {
        string text = value.IndexOfAny([' ', '\'', '"', '$', '`', ';', '(', ')', '{', '}', '&', '|', ',']) >= 0 ? "'" + value.Replace("'", "''") + "'" : value;
        return new CompletionResult(text, value, CompletionResultType.ParameterValue, tooltip);
    }

    /// <summary>The backups of the repository named on the command line so far; nothing when there is none or it cannot be read.</summary>
    public static IReadOnlyList<PgBackup> Backups(IDictionary fakeBoundParameters)
    {
        if (fakeBoundParameters["Repository"] is not string location || location.Length == 0) return [];
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            var repository = BackupRepository.OpenAsync(location, create: false, timeout.Token, passphrase: null, keyRequired: false).GetAwaiter().GetResult();
            return repository.ListBackupsAsync(null, new OperationContext { CancellationToken = timeout.Token }).GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return [];
        }
    }
}
