using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Repository;

namespace PgBackupTools.Core.Tests.Repository;

public class RepositoryNamesTests
{
    [Theory]
    [InlineData("../etc")]
    [InlineData("..")]
    [InlineData("a/b")]
    [InlineData("")]
    [InlineData("-leading-dash")]
    [InlineData("x..y")]
    public void Unsafe_backup_ids_are_refused(string id)
    {
        var e = Assert.Throws<PgBackupException>(() => RepositoryNames.ValidateBackupId(id));
        Assert.Equal(FailureKind.InvalidArgument, e.Kind);
    }

    [Fact]
    public void New_ids_are_valid_unique_and_sort_by_time()
    {
        var t = new DateTimeOffset(2026, 11, 24, 20, 30, 15, TimeSpan.Zero);
        var a = RepositoryNames.NewBackupId(t);
        var b = RepositoryNames.NewBackupId(t);
        var later = RepositoryNames.NewBackupId(t.AddSeconds(1));
        Assert.StartsWith("20261124T203015Z-", a);
        Assert.NotEqual(a, b);
        Assert.True(string.CompareOrdinal(a, later) < 0 && string.CompareOrdinal(b, later) < 0);
        Assert.Equal(a, RepositoryNames.ValidateBackupId(a));
    }
}
