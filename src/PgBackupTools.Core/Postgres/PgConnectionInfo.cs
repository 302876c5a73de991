using System.Text;
using Npgsql;
using PgBackupTools.Core.Errors;

namespace PgBackupTools.Core.Postgres;

/// <summary>
/// Where and as whom to connect, resolved the way libpq does: explicit values first, then a connection string,
/// then the PG* environment variables, then libpq's defaults. A password is only ever held here and handed to
/// child processes through a private passfile, never through their arguments.
/// </summary>
public sealed class PgConnectionInfo
{
    public string Host { get; init; } = "localhost";
    public int Port { get; init; } = 5432;
    public string Username { get; init; } = Environment.UserName;
    public string Database { get; init; } = "postgres";
    public string? SslMode { get; init; }
    /// <summary>The password, if one was given. Never logged, never put on a command line.</summary>
    internal string? Password { get; init; }
    public bool HasPassword => Password is not null;

    /// <summary>"host:port" for messages and manifests.</summary>
    public string Server => Host.StartsWith('/') ? $"{Host}:{Port}" : Host.Contains(':') ? $"[{Host}]:{Port}" : $"{Host}:{Port}";

    public override string ToString() => $"{Username}@{Server}/{Database}";

    public PgConnectionInfo WithServer(string host, int port) => new()
    {
        Host = host, Port = port, Username = Username, Database = Database, SslMode = SslMode, Password = Password,
    };

    public PgConnectionInfo WithDatabase(string database) => new()
    {
        Host = Host, Port = Port, Username = Username, Database = database, SslMode = SslMode, Password = Password,
    };

    /// <summary>
    /// Resolves connection settings. Any argument left null falls back to the connection string, then to
    /// PGHOST/PGPORT/PGUSER/PGDATABASE/PGPASSWORD/PGSSLMODE, then to libpq's defaults.
    /// </summary>
    public static PgConnectionInfo Resolve(string? host = null, int? port = null, string? username = null,
        string? password = null, string? database = null, string? connectionString = null,
        IReadOnlyDictionary<string, string?>? environment = null)
    {
        string? Env(string name) => environment is not null
            ? environment.TryGetValue(name, out var v) ? v : null
            : Environment.GetEnvironmentVariable(name);

        var fromString = connectionString is null ? new Dictionary<string, string>() : ConnectionStringParser.Parse(connectionString);
        string? Cs(string key) => fromString.TryGetValue(key, out var v) ? v : null;

        string resolvedHost = host ?? Cs("host") ?? Env("PGHOST") ?? DefaultHost();
        string portText = port?.ToString() ?? Cs("port") ?? Env("PGPORT") ?? "5432";
        if (!int.TryParse(portText, out int resolvedPort) || resolvedPort is < 1 or > 65535)
            throw new PgBackupException(FailureKind.InvalidArgument, $"'{portText}' is not a valid port: give a number from 1 to 65535.", portText);
        string resolvedUser = username ?? Cs("user") ?? Env("PGUSER") ?? Environment.UserName;
        return new PgConnectionInfo
        {
            Host = resolvedHost,
            Port = resolvedPort,
            Username = resolvedUser,
            Database = database ?? Cs("dbname") ?? Env("PGDATABASE") ?? resolvedUser,
            Password = password ?? Cs("password") ?? Env("PGPASSWORD"),
            SslMode = Cs("sslmode") ?? Env("PGSSLMODE"),
        };
    }

    private static string DefaultHost()
    {
        foreach (var dir in new[] { "/var/run/postgresql", "/tmp" })
            if (!OperatingSystem.IsWindows() && Directory.Exists(dir) && Directory.EnumerateFileSystemEntries(dir, ".s.PGSQL.*").Any())
                return dir;
        return "localhost";
    }

    /// <summary>An Npgsql connection string. Without a password Npgsql reads PGPASSFILE or ~/.pgpass itself, as libpq does.</summary>
    public string ToNpgsqlConnectionString(string? applicationName = "PgBackupTools")
    {
        var b = new NpgsqlConnectionStringBuilder
        {
            Host = Host,
            Port = Port,
            Username = Username,
            Database = Database,
            ApplicationName = applicationName,
            Pooling = false,
            Timeout = 15,
            CommandTimeout = 0,
        };
        if (Password is not null) b.Password = Password;
        if (SslMode is not null && Enum.TryParse<SslMode>(SslMode.Replace("-", ""), ignoreCase: true, out var mode)) b.SslMode = mode;
        return b.ConnectionString;
    }

    /// <summary>A libpq conninfo value for pg_dump/psql -d. Quoting keeps any database name literal (a name with '=' would otherwise be read as a conninfo).</summary>
    public string ToLibpqDatabaseArgument(string? database = null)
    {
        var sb = new StringBuilder("dbname=");
        AppendQuoted(sb, database ?? Database);
        if (SslMode is not null) { sb.Append(" sslmode="); AppendQuoted(sb, SslMode); }
        return sb.ToString();
    }

    private static void AppendQuoted(StringBuilder sb, string value)
    {
        sb.Append('\'');
        foreach (char c in value)
        {
            if (c is '\'' or '\\') sb.Append('\\');
            sb.Append(c);
        }
        sb.Append('\'');
    }
}
