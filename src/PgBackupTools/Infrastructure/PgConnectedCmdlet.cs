using System.Management.Automation;
using PgBackupTools.Core.Postgres;

namespace PgBackupTools.Infrastructure;

/// <summary>
/// The connection parameters every cmdlet that talks to a server shares. What is not given comes from the
/// connection string, then the PG* environment variables and ~/.pgpass, as with psql.
/// </summary>
public abstract class PgConnectedCmdlet : PgRepositoryCmdlet
{
    /// <summary>Server host name, IP address or Unix socket directory (PGHOST).</summary>
    [Parameter]
    [Alias("Host", "Server")]
    [ValidateNotNullOrEmpty]
    public string? HostName { get; set; }

    /// <summary>Server port (PGPORT, default 5432).</summary>
    [Parameter]
    [ValidateRange(1, 65535)]
    public int? Port { get; set; }

    /// <summary>Role to connect as (PGUSER, default the OS user).</summary>
    [Parameter]
    [Alias("User")]
    [ValidateNotNullOrEmpty]
    public string? Username { get; set; }

    /// <summary>Role and password. The password reaches child processes only through a private passfile.</summary>
    [Parameter]
    [Credential]
    public PSCredential? Credential { get; set; }

    /// <summary>A libpq ('host=... dbname=...'), URI ('postgresql://...') or Npgsql ('Host=...;') connection string.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? ConnectionString { get; set; }

    protected bool ConnectionGiven => HostName is not null || Port is not null || ConnectionString is not null;

    /// <summary>Any server parameter given, a role included: the cmdlet should ask the server too.</summary>
    protected bool ServerRequested => ConnectionGiven || Username is not null || Credential is not null;

    protected PgConnectionInfo ResolveConnection(string? database = null) =>
        ResolveConnection(HostName, Port, Username, Credential, ConnectionString, database);

    /// <summary>The connection parameters resolved the libpq way; also for cmdlets that take them on another base class.</summary>
    internal static PgConnectionInfo ResolveConnection(string? hostName, int? port, string? username, PSCredential? credential,
        string? connectionString, string? database = null)
    {
        bool hasCredential = credential is not null && credential != PSCredential.Empty;
        return PgConnectionInfo.Resolve(
            host: hostName,
            port: port,
            username: username ?? (hasCredential ? credential!.UserName : null),
            password: hasCredential ? credential!.GetNetworkCredential().Password : null,
            database: database,
            connectionString: connectionString);
    }
}
