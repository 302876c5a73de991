namespace PgBackupTools.Core.Repository;

/// <summary>How a repository passphrase is found when no parameter names one.</summary>
public static class RepositoryPassphrase
{
    /// <summary>
    /// The environment variable read when no -Passphrase, -PassphraseVariable or -PassphraseFile is given.
    /// It unlocks an encrypted repository and encrypts a new one; for an existing unencrypted repository it is
    /// not used (a warning says so), so one machine-wide setting cannot break plain repositories.
    /// </summary>
    public const string DefaultVariable = "PGBACKUPTOOLS_PASSPHRASE";

    /// <summary>What to tell a user who gave no passphrase for an encrypted repository.</summary>
    public const string HowToGiveOne =
        "Pass -Passphrase (a SecureString, e.g. from Read-Host -AsSecureString), -PassphraseVariable (the name of an environment variable " +
        "that holds it) or -PassphraseFile (a file readable only by you), or set the environment variable " + DefaultVariable + ".";
}
