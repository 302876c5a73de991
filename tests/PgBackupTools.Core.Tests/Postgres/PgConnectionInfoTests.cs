using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Postgres;

namespace PgBackupTools.Core.Tests.Postgres;

public class PgConnectionInfoTests
{
    private static readonly Dictionary<string, string?> NoEnvironment = new();

    [Fact]
    public void Explicit_values_win_over_connection_string_and_environment()
    {
        var env = new Dictionary<string, string?> { ["PGHOST"] = "envhost", ["PGPORT"] = "6000", ["PGUSER"] = "envuser" };
        var info = PgConnectionInfo.Resolve(host: "explicit", connectionString: "host=cshost port=7000 user=csuser dbname=csdb", environment: env);
        Assert.Equal("explicit", info.Host);
        Assert.Equal(7000, info.Port);
        Assert.Equal("csuser", info.Username);
        Assert.Equal("csdb", info.Database);
    }

    [Fact]
    public void Environment_fills_what_is_not_given()
    {
        var env = new Dictionary<string, string?> { ["PGHOST"] = "envhost", ["PGPORT"] = "6000", ["PGUSER"] = "envuser", ["PGPASSWORD"] = "pw" };
        var info = PgConnectionInfo.Resolve(environment: env);
        Assert.Equal(("envhost", 6000, "envuser", "envuser"), (info.Host, info.Port, info.Username, info.Database));
        Assert.True(info.HasPassword);
    }

    [Theory]
    [InlineData("postgresql://bob:s%40cret@db.example:5433/app?sslmode=require", "db.example", 5433, "bob", "app")]
    [InlineData("Host=db.example;Port=5433;Username=bob;Password=x;Database=app", "db.example", 5433, "bob", "app")]
    [InlineData("host=db.example port=5433 user=bob dbname='my app'", "db.example", 5433, "bob", "my app")]
    public void Reads_the_three_connection_string_forms(string text, string host, int port, string user, string db)
    {
        var info = PgConnectionInfo.Resolve(connectionString: text, environment: NoEnvironment);
        Assert.Equal((host, port, user, db), (info.Host, info.Port, info.Username, info.Database));
    }

    [Fact]
    public void A_malformed_connection_string_is_refused_without_echoing_it()
    {
        var e = Assert.Throws<PgBackupException>(() => PgConnectionInfo.Resolve(connectionString: "host=x password='unterminated", environment: NoEnvironment));
        Assert.Equal(FailureKind.InvalidArgument, e.Kind);
        Assert.DoesNotContain("unterminated", e.Message);
    }

    [Fact]
    public void A_bad_port_is_refused()
    {
        var e = Assert.Throws<PgBackupException>(() => PgConnectionInfo.Resolve(connectionString: "port=99999", environment: NoEnvironment));
        Assert.Contains("99999", e.Message);
    }

    [Theory]
    [InlineData("we\"ird; name", "dbname='we\"ird; name'")]
    [InlineData("it's", "dbname='it\\'s'")]
    [InlineData("a=b", "dbname='a=b'")]
    public void Database_argument_is_a_quoted_conninfo(string name, string expected)
    {
        var info = PgConnectionInfo.Resolve(host: "h", database: name, environment: NoEnvironment);
        Assert.Equal(expected, info.ToLibpqDatabaseArgument());
    }

    [Fact]
    public void ToString_never_shows_the_password()
    {
        var info = PgConnectionInfo.Resolve(host: "h", password: "hunter2", username: "u", environment: NoEnvironment);
        Assert.DoesNotContain("hunter2", info.ToString());
    }
}
