using PgBackupTools.Core.Errors;

namespace PgBackupTools.Core.Postgres;

/// <summary>
/// Reads the three connection string forms users paste: libpq key/value ("host=db port=5432 dbname=app"),
/// URIs ("postgresql://user@db:5432/app") and Npgsql/ADO.NET ("Host=db;Port=5432;Database=app").
/// Keys come back in libpq's spelling: host, port, user, password, dbname, sslmode.
/// </summary>
internal static class ConnectionStringParser
{
    private static readonly Dictionary<string, string> Aliases = new(StringComparer.OrdinalIgnoreCase)
    {
        ["host"] = "host", ["server"] = "host", ["hostaddr"] = "host",
        ["port"] = "port",
        ["user"] = "user", ["username"] = "user", ["user id"] = "user", ["userid"] = "user", ["uid"] = "user",
        ["password"] = "password", ["pwd"] = "password",
        ["dbname"] = "dbname", ["database"] = "dbname", ["db"] = "dbname",
        ["sslmode"] = "sslmode", ["ssl mode"] = "sslmode",
    };

    public static Dictionary<string, string> Parse(string text)
    {
        text = text.Trim();
        if (text.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase) || text.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase))
            return ParseUri(text);
        return text.Contains(';') ? ParseSemicolons(text) : ParseKeyValue(text);
    }

    private static Dictionary<string, string> Normalize(IEnumerable<KeyValuePair<string, string>> pairs)
    {
        var result = new Dictionary<string, string>();
        foreach (var (key, value) in pairs)
        {
            if (!Aliases.TryGetValue(key.Trim(), out var canonical))
                throw new PgBackupException(FailureKind.InvalidArgument,
                    $"The connection string has the key '{key.Trim()}', which is not supported. Use host, port, user, password, dbname and sslmode.", key);
            result[canonical] = value;
        }
        return result;
    }

    private static Dictionary<string, string> ParseSemicolons(string text) =>
        Normalize(text.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(part =>
        {
            int eq = part.IndexOf('=');
            if (eq <= 0) throw Malformed();
            return KeyValuePair.Create(part[..eq], part[(eq + 1)..].Trim());
        }));

    private static Dictionary<string, string> ParseKeyValue(string text)
    {
        var pairs = new List<KeyValuePair<string, string>>();
        int i = 0;
        while (i < text.Length)
        {
            while (i < text.Length && char.IsWhiteSpace(text[i])) i++;
            if (i >= text.Length) break;
            int keyStart = i;
            while (i < text.Length && text[i] != '=' && !char.IsWhiteSpace(text[i])) i++;
            string key = text[keyStart..i];
            while (i < text.Length && char.IsWhiteSpace(text[i])) i++;
            if (i >= text.Length || text[i] != '=' || key.Length == 0) throw Malformed();
            i++;
            while (i < text.Length && char.IsWhiteSpace(text[i])) i++;
            var value = new System.Text.StringBuilder();
            if (i < text.Length && text[i] == '\'')
            {
                i++;
                while (true)
                {
                    if (i >= text.Length) throw Malformed();
                    char c = text[i++];
                    if (c == '\'') break;
                    if (c == '\\' && i < text.Length) c = text[i++];
                    value.Append(c);
                }
            }
            else
            {
                while (i < text.Length && !char.IsWhiteSpace(text[i]))
                {
                    char c = text[i++];
                    if (c == '\\' && i < text.Length) c = text[i++];
                    value.Append(c);
                }
            }
            pairs.Add(KeyValuePair.Create(key, value.ToString()));
        }
        return Normalize(pairs);
    }

    private static Dictionary<string, string> ParseUri(string text)
    {
        Uri uri;
        try { uri = new Uri(text); }
        catch (UriFormatException) { throw Malformed(); }
        var pairs = new List<KeyValuePair<string, string>>();
        if (!string.IsNullOrEmpty(uri.Host)) pairs.Add(KeyValuePair.Create("host", uri.Host.Trim('[', ']')));
        if (uri.Port > 0) pairs.Add(KeyValuePair.Create("port", uri.Port.ToString()));
        if (!string.IsNullOrEmpty(uri.UserInfo))
        {
            var parts = uri.UserInfo.Split(':', 2);
            pairs.Add(KeyValuePair.Create("user", Uri.UnescapeDataString(parts[0])));
            if (parts.Length == 2) pairs.Add(KeyValuePair.Create("password", Uri.UnescapeDataString(parts[1])));
        }
        var db = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/'));
        if (db.Length > 0) pairs.Add(KeyValuePair.Create("dbname", db));
        foreach (var q in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var kv = q.Split('=', 2);
            pairs.Add(KeyValuePair.Create(Uri.UnescapeDataString(kv[0]), kv.Length == 2 ? Uri.UnescapeDataString(kv[1]) : ""));
        }
        return Normalize(pairs);
    }

    // The text itself is never echoed: it may hold a password.
    private static PgBackupException Malformed() => new(FailureKind.InvalidArgument,
        "The connection string could not be read. Use 'host=... port=... dbname=...', 'postgresql://user@host:port/db' or 'Host=...;Port=...;Database=...'.");
}
