using System.Text.RegularExpressions;

namespace PgBackupTools.Core.Postgres;

/// <summary>A setting on one line of a postgresql.conf-style file: its name (lower case) and its value, unquoted.</summary>
internal sealed record ConfigurationSetting(string Name, string Value);

/// <summary>
/// As much of PostgreSQL's configuration file syntax (guc-file.l) as finding and rewriting settings needs: one
/// "name [=] value" per line, the value a 'quoted string' ('' and backslash escapes) or a bare word, '#' starts a
/// comment; names are case-insensitive. include, include_if_exists and include_dir take a path that, when relative,
/// is relative to the directory of the file that names it.
/// </summary>
internal static class ConfigurationFileSyntax
{
    private static readonly Regex Setting = new(@"^\s*([A-Za-z_][A-Za-z0-9_.$]*)\s*=?\s*('(?:[^'\\]|''|\\.)*'|[^\s#']+)", RegexOptions.CultureInvariant);

    public static readonly IReadOnlySet<string> IncludeDirectives = new HashSet<string>(StringComparer.Ordinal) { "include", "include_if_exists", "include_dir" };

    public static ConfigurationSetting? Parse(string line)
    {
        var m = Setting.Match(line);
        if (!m.Success) return null;
        string raw = m.Groups[2].Value;
        return new ConfigurationSetting(m.Groups[1].Value.ToLowerInvariant(), raw.StartsWith('\'') ? Unquote(raw[1..^1]) : raw);
    }

    /// <summary>A value as a quoted string PostgreSQL reads back as <paramref name="value"/>.</summary>
    public static string Quote(string value) => "'" + value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "''", StringComparison.Ordinal) + "'";

    /// <summary>The absolute path an include directive in <paramref name="includingFile"/> names.</summary>
    public static string ResolveInclude(string includingFile, string value) =>
        Path.IsPathRooted(value) ? Path.GetFullPath(value) : Path.GetFullPath(Path.Combine(Path.GetDirectoryName(includingFile) ?? "/", value));

    /// <summary>Whether <paramref name="path"/> lies below <paramref name="directory"/> (both absolute, '/'-separated as the server names them).</summary>
    public static bool IsInside(string path, string directory) => path.StartsWith(directory.TrimEnd('/') + "/", StringComparison.Ordinal);

    private static string Unquote(string body)
    {
        var text = new System.Text.StringBuilder(body.Length);
        for (int i = 0; i < body.Length; i++)
        {
            char c = body[i];
            if (c == '\'' && i + 1 < body.Length && body[i + 1] == '\'') { text.Append('\''); i++; }
            else if (c == '\\' && i + 1 < body.Length)
            {
                char next = body[++i];
                text.Append(next switch { 'n' => '\n', 't' => '\t', 'r' => '\r', 'b' => '\b', 'f' => '\f', _ => next });
            }
            else text.Append(c);
        }
        return text.ToString();
    }
}
