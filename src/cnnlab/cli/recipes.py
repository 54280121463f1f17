"""`cnnlab recipes` and `cnnlab recipes show NAME`: the training configs that ship in the package
(`cnnlab.recipes`); `cnnlab train --config NAME` runs one."""

from __future__ import annotations

import sys

import typer

from cnnlab.cli.console import console

app = typer.Typer()
recipes_app = typer.Typer(name="recipes", help="The packaged recipes, one line each; `recipes show NAME` prints "
                          "one. Run one with: cnnlab train --config NAME", invoke_without_command=True)
app.add_typer(recipes_app)


@recipes_app.callback()
def recipes(ctx: typer.Context) -> None:
    """The packaged recipes, one line each: name, model on data, and what it follows."""
    if ctx.invoked_subcommand is not None:
        return
    from cnnlab.config_io import read_yaml
    from cnnlab.recipes import get_recipe, recipe_names

    names = recipe_names()
    width = max(map(len, names))
    for name in names:
        recipe = get_recipe(name)
        settings = read_yaml(recipe.path)
        data = settings.get("data", {})
        source = data.get("source", "digits") if isinstance(data, dict) else data
        model = str(settings.get("model", "mnist-tiny"))
        model = model if len(model) <= 24 else model[:23] + "…"  # a pattern spec is a sentence of its own
        what = f"{model} on {source}"
        console.print(f"[bold]{name:<{width}}[/bold]  {what}: {recipe.summary(90)}", highlight=False, soft_wrap=True)


@recipes_app.command("show")
def show(name: str = typer.Argument(..., help="Recipe name (see `cnnlab recipes`)")) -> None:
    """Print one recipe's YAML as it ships (copy it to start a config of your own)."""
    from cnnlab.recipes import get_recipe

    sys.stdout.write(get_recipe(name).text)
