using System.Net.Sockets;
using Npgsql;
using PgBackupTools.Core.Errors;

namespace PgBackupTools.Core.Postgres;

/// <summary>Facts about a database server that backups record and restores check.</summary>
public sealed record ServerFacts(int VersionNumber, string Version, string? SystemIdentifier, string Encoding, string Collate, string Ctype, long DatabaseSizeBytes)
{
    public int MajorVersion => VersionNumber / 10000;
}

/// <summary>Talks to a server through Npgsql and turns its failures into sentences an operator can act on.</summary>
public static class PgServer
{
    public static async Task<NpgsqlConnection> OpenAsync(PgConnectionInfo info, CancellationToken cancellationToken)
    {
        var connection = new NpgsqlConnection(info.ToNpgsqlConnectionString());
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            return connection;
        }
        catch (Exception e) when (e is NpgsqlException or SocketException or TimeoutException || IsMissingPassFile(e))
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw Describe(e, info);
        }
    }

    public static PgBackupException Describe(Exception e, PgConnectionInfo info) => e switch
    {
        // libpq skips a PGPASSFILE that is not there; Npgsql stops with a bare "Could not find file".
        _ when IsMissingPassFile(e) => new PgBackupException(FailureKind.InvalidArgument,
            $"PGPASSFILE names {PassFileVariable}, which does not exist. Create it (lines host:port:database:user:password, chmod 600) or unset PGPASSFILE.", PassFileVariable, e),
        PostgresException { SqlState: "3D000" } => new PgBackupException(FailureKind.NotFound,
            $"Database '{info.Database}' does not exist on {info.Server}. Check the name with Get-PgBackup or 'psql -l'.", info.Database, e),
        PostgresException { SqlState: "28P01" or "28000" } pg => new PgBackupException(FailureKind.PermissionDenied,
            $"{info.Server} refused user '{info.Username}': {pg.MessageText}. {CheckLogin}", info.Username, e),
        // Npgsql's own words when the server asks for a password and none was found (no -Credential, PGPASSWORD or ~/.pgpass line).
        _ when NoPasswordGiven(e) => new PgBackupException(FailureKind.PermissionDenied,
            $"{info.Server} asks for the password of user '{info.Username}', and none was given. {CheckLogin}", info.Username, e),
        PostgresException pg => new PgBackupException(FailureKind.OperationFailed, $"{info.Server}: {pg.MessageText}", info.ToString(), e),
        _ => new PgBackupException(FailureKind.ConnectionFailed,
            $"Could not connect to PostgreSQL at {info.Server} as '{info.Username}': {Innermost(e).Message}. " +
            "Check that the server runs and -Host/-Port (or PGHOST/PGPORT) point at it.", info.Server, e),
    };

    private const string CheckLogin =
        "Check the role (-Username or PGUSER; without them, the operating-system user) and its password (-Credential, PGPASSWORD or a ~/.pgpass line), and pg_hba.conf.";

    private static string? PassFileVariable => Environment.GetEnvironmentVariable("PGPASSFILE");

    private static bool IsMissingPassFile(Exception e) =>
        e is FileNotFoundException { FileName: { Length: > 0 } file } && PassFileVariable is { Length: > 0 } variable &&
        string.Equals(Path.GetFullPath(file), Path.GetFullPath(variable), StringComparison.Ordinal);

    /// <summary>A login the server refused (a wrong password, no pg_hba.conf line) or asked a password for that none was given: asking again will not help.</summary>
    public static bool IsLoginRefused(Exception e) => e is PostgresException { SqlState: "28P01" or "28000" } || NoPasswordGiven(e);

    private static bool NoPasswordGiven(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
            if (e is NpgsqlException && e.Message.StartsWith("No password has been provided", StringComparison.Ordinal)) return true;
        return false;
    }

    private static Exception Innermost(Exception e)
    {
        while (e.InnerException is not null) e = e.InnerException;
        return e;
    }

    public static async Task<ServerFacts> GetFactsAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using var cmd = new NpgsqlCommand("""
            SELECT current_setting('server_version_num')::int, version(), d.encoding_name, d.datcollate, d.datctype,
                   pg_database_size(current_database())
            FROM (SELECT pg_encoding_to_char(encoding) AS encoding_name, datcollate, datctype
                  FROM pg_database WHERE datname = current_database()) d
            """, connection);
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        var facts = new ServerFacts(reader.GetInt32(0), reader.GetString(1), null, reader.GetString(2), reader.GetString(3), reader.GetString(4), reader.GetInt64(5));
        await reader.DisposeAsync().ConfigureAwait(false);
        return facts with { SystemIdentifier = await TryGetSystemIdentifierAsync(connection, cancellationToken).ConfigureAwait(false) };
    }

    private static async Task<string?> TryGetSystemIdentifierAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        // pg_control_system() needs superuser or pg_read_all_settings-like grants on some setups; a backup does not need it.
        try
        {
            await using var cmd = new NpgsqlCommand("SELECT system_identifier::text FROM pg_control_system()", connection);
            return (string?)await cmd.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (PostgresException) when (connection.State == System.Data.ConnectionState.Open)
        {
            return null;
        }
    }

    public static async Task<bool> DatabaseExistsAsync(NpgsqlConnection connection, string name, CancellationToken cancellationToken)
    {
        await using var cmd = new NpgsqlCommand("SELECT 1 FROM pg_database WHERE datname = $1", connection) { Parameters = { new() { Value = name } } };
        return await cmd.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is not null;
    }

    /// <summary>
    /// Every user table (leaf tables, not those of extensions) by its quoted qualified name, as format('%I.%I') and
    /// pg_dump's COPY lines write it.
    /// </summary>
    public static async Task<List<string>> ListTablesAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var tables = new List<string>();
        await using var cmd = new NpgsqlCommand("""
            SELECT format('%I.%I', n.nspname, c.relname)
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind = 'r'
              AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp%'
              AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
            ORDER BY 1
            """, connection);
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false)) tables.Add(reader.GetString(0));
        return tables;
    }

    /// <summary>Exact row count of one table (in the connection's snapshot).</summary>
    public static async Task<long> CountRowsAsync(NpgsqlConnection connection, string qualifiedTable, CancellationToken cancellationToken)
    {
        await using var count = new NpgsqlCommand($"SELECT count(*) FROM {qualifiedTable}", connection);
        return (long)(await count.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
    }

    /// <summary>
    /// Exact row counts of every user table, keyed by their quoted qualified name. Run inside the dump's snapshot
    /// they are exactly what the dump holds.
    /// </summary>
    public static async Task<SortedDictionary<string, long>> CountTableRowsAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var counts = new SortedDictionary<string, long>(StringComparer.Ordinal);
        foreach (var table in await ListTablesAsync(connection, cancellationToken).ConfigureAwait(false))
            counts[table] = await CountRowsAsync(connection, table, cancellationToken).ConfigureAwait(false);
        return counts;
    }

    /// <summary>The single value a query returns.</summary>
    internal static async Task<T> ScalarAsync<T>(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var cmd = new NpgsqlCommand(sql, connection);
        return (T)(await cmd.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
    }

    /// <summary>wal_segment_size in bytes (16 MiB unless initdb --wal-segsize chose otherwise).</summary>
    internal static Task<long> WalSegmentSizeAsync(NpgsqlConnection connection, CancellationToken cancellationToken) =>
        ScalarAsync<long>(connection, "SELECT setting::bigint FROM pg_settings WHERE name = 'wal_segment_size'", cancellationToken);

    public static string QuoteIdentifier(string name) => "\"" + name.Replace("\"", "\"\"") + "\"";

    /// <summary>A string literal for SQL (standard_conforming_strings: only ' is doubled); a configuration file reads backslashes as escapes and needs <see cref="ConfigurationFileSyntax.Quote"/>.</summary>
    public static string QuoteLiteral(string value) => "'" + value.Replace("'", "''", StringComparison.Ordinal) + "'";
}
